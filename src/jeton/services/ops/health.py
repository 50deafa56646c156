"""Is the store reachable? For `/healthz` and the CLI."""

from __future__ import annotations

import sqlalchemy as sa

from jeton.store.engine import Store


def database_reachable(store: Store) -> bool:
    try:
        with store.read() as conn:
            conn.execute(sa.select(1))
    except sa.exc.SQLAlchemyError:
        return False
    return True
