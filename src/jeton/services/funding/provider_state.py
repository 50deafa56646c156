"""The in-process providers' memory in the database (decision 0090).

The demo and offline providers (payments/_local.py) keep their checkout sessions, payments,
saved methods and the answers of their keyed charges and refunds in a `LocalState`. A Jeton
gives each one a `StoreState` on its own database, so every process serving it (`jeton serve`
starts one per core on PostgreSQL, `jeton worker` runs the renewals) sees the same sessions:
a member's checkout page, opened by one process, is paid on whichever process the browser
reaches. The provider calls it outside any write of Jeton's (a provider answers with no
transaction open), each call a statement of its own. A record is found by its key alone (the
hosted page knows the session, not the community): on Citus a statement on every shard, whose
time is therefore the process's, not the database's (Citus refuses a volatile function there).
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from jeton.store.engine import Store
from jeton.store.sql import insert_new
from jeton.store.tables.funding import provider_state

_t = provider_state.c
_KEY = ["provider", "kind", "key", "community_id"]


def _now_us() -> int:
    return time.time_ns() // 1000


class StoreState:
    """A `LocalState` in `provider_state`, for the provider called `provider`."""

    def __init__(self, store: Store, provider: str) -> None:
        self.store = store
        self.provider = provider

    def _where(self, kind: str, key: str) -> sa.ColumnElement[bool]:
        return sa.and_(_t.provider == self.provider, _t.kind == kind, _t.key == key)

    def get(self, kind: str, key: str) -> str | None:
        with self.store.read() as conn:
            found: str | None = conn.execute(
                sa.select(_t.value_json).where(self._where(kind, key))).scalar()
        return found

    def add(self, kind: str, key: str, value: str, community_id: str | None) -> bool:
        # A key names its community (a session or payment id, `community/purchase`, a key
        # that spells its community), so the primary key's conflict is the key's.
        row = {"provider": self.provider, "kind": kind, "key": key,
               "community_id": community_id or "", "value_json": value,
               "updated_at_us": _now_us()}
        return self.store.run_write(lambda conn: insert_new(conn, provider_state, _KEY, row))

    def swap(self, kind: str, key: str, old: str, new: str) -> bool:
        def tx(conn: sa.Connection) -> bool:
            done = conn.execute(provider_state.update().where(
                self._where(kind, key), _t.value_json == old).values(
                value_json=new, updated_at_us=_now_us()))
            return done.rowcount == 1

        return self.store.run_write(tx)
