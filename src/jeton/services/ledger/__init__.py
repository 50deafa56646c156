"""The ledger domain: see docs.md beside this file."""
