"""All tables, on one MetaData. Importing this module registers every table."""

from jeton.store.tables import (
    achievements,
    api,
    bills,
    catalog,
    charging,
    clocks,
    funding,
    jobs,
    leases,
    ledger,
    member_links,
    protection,
    receipts,
    web,
    webhooks,
)
from jeton.store.tables.base import metadata

__all__ = ["achievements", "api", "bills", "catalog", "charging", "clocks", "funding", "jobs",
           "leases", "ledger", "member_links", "metadata", "protection", "receipts", "web",
           "webhooks"]
