"""All tables, on one MetaData. Importing this module registers every table."""

from jeton.store.tables import jobs, ledger, web
from jeton.store.tables.base import metadata

__all__ = ["jobs", "ledger", "metadata", "web"]
