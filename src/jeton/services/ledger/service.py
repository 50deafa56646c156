"""The ledger's use cases: communities, assets, members, and every movement of credits.

`Ledger` is one object made of its parts, one module each: setup (communities, assets, members),
writes (grants, spends, transfers, reversals), holds, expiry and reads, over the shared write
path in base.py. See services/ledger/workset.py for the mechanics of a write.
"""

from __future__ import annotations

from jeton.services.ledger.base import Hook
from jeton.services.ledger.expiry import LedgerExpiry
from jeton.services.ledger.holds import LedgerHolds
from jeton.services.ledger.reads import LedgerReads, communities_of, read_transfer
from jeton.services.ledger.setup import LedgerSetup
from jeton.services.ledger.writes import LedgerWrites

__all__ = ["Hook", "Ledger", "communities_of", "read_transfer"]


class Ledger(LedgerSetup, LedgerWrites, LedgerHolds, LedgerExpiry, LedgerReads):
    """The in-process ledger over one Store. Thread-safe; share one per process."""
