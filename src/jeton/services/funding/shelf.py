"""What packs and plans share as things on sale: made once per id, at most so many per
community, found by id, taken off sale and put back.

A `Shelf` names the table and the words of the messages; `packs.py` and `plans.py` keep what
differs (their terms, their checks, how a row reads back).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Connection, RowMapping

from jeton.core.clock import from_us
from jeton.core.errors import Conflict, InvalidRequest, NotFound
from jeton.core.statuses import Status
from jeton.services.funding import base as fb

if TYPE_CHECKING:
    from jeton.app import Jeton

Info = TypeVar("Info", bound=BaseModel)

# Fields that may differ when the same id is created again with the same terms.
_NOT_TERMS = {"created_at", "active"}


@dataclass(frozen=True, slots=True)
class Shelf(Generic[Info]):
    kind: str  # "pack", "plan": how messages name one
    table: sa.Table
    id_column: str
    count_max: int  # per community (core/limits.py)
    info_of: Callable[[RowMapping], Info]

    def row(self, conn: Connection, community_id: str, item_id: str) -> RowMapping | None:
        return conn.execute(sa.select(self.table).where(
            self.table.c.community_id == community_id,
            self.table.c[self.id_column] == item_id)).mappings().first()

    def get(self, j: Jeton, community_id: str, item_id: str) -> Info:
        with j.store.read() as conn:
            row = self.row(conn, community_id, item_id)
        if row is None:
            raise NotFound(f"no {self.kind} {item_id!r}", status=Status.not_found)
        return self.info_of(row)

    def create_once(self, j: Jeton, community_id: str, item_id: str, info: Info, *, asset: str,
                    currency: str, values: Mapping[str, Any]) -> Info:
        """Insert `values` as `item_id`, checked as `info`. The same id again with the same
        terms returns what exists; with other terms it is a Conflict."""
        fb.ensure_money_accounts(j.ledger, community_id, currency)
        now_us = j.ledger.now_us()

        def tx(conn: Connection) -> Info:
            fb.require_asset(conn, community_id, asset)
            existing = self.row(conn, community_id, item_id)
            if existing is not None:
                found = self.info_of(existing)
                if found.model_dump(exclude=_NOT_TERMS) != info.model_dump(exclude=_NOT_TERMS):
                    raise Conflict(f"{self.kind} {item_id!r} exists with other terms; create a "
                                   f"new {self.kind}", status=Status.already_exists)
                return found
            count = conn.execute(sa.select(sa.func.count()).select_from(self.table).where(
                self.table.c.community_id == community_id)).scalar_one()
            if count >= self.count_max:
                raise InvalidRequest(f"a community has at most {self.count_max} {self.kind}s",
                                     status=Status.limit_exceeded)
            conn.execute(self.table.insert().values(
                community_id=community_id, active=True, created_at_us=now_us,
                **{self.id_column: item_id}, **values))
            return info.model_copy(update={"created_at": from_us(now_us)})

        return j.store.run_write(tx)

    def set_active(self, j: Jeton, community_id: str, item_id: str, active: bool) -> Info:
        if type(active) is not bool:
            raise InvalidRequest("active must be true or false", status=Status.value_invalid)

        def tx(conn: Connection) -> None:
            done = conn.execute(self.table.update().where(
                self.table.c.community_id == community_id,
                self.table.c[self.id_column] == item_id).values(active=active))
            if not done.rowcount:
                raise NotFound(f"no {self.kind} {item_id!r}", status=Status.not_found)

        j.store.run_write(tx)
        return self.get(j, community_id, item_id)
