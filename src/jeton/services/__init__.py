"""Use cases over core and the store: ledger, charging, funding, reports, jobs."""
