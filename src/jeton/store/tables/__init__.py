"""All tables, on one MetaData. Importing this module registers every table."""

from jeton.store.tables import (
    api,
    bills,
    catalog,
    charging,
    funding,
    jobs,
    leases,
    ledger,
    member_links,
    protection,
    web,
    webhooks,
)
from jeton.store.tables.base import metadata

__all__ = ["api", "bills", "catalog", "charging", "funding", "jobs", "leases", "ledger",
           "member_links", "metadata", "protection", "web", "webhooks"]
