"""Storage: the one port (`Store`) and its adapters for SQLite and PostgreSQL."""

from jeton.store.engine import Store, open_store

__all__ = ["Store", "open_store"]
