"""Setting a community up: assets, accounts, members and credit lines."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import amounts, limits
from jeton.core.clock import from_us
from jeton.core.errors import Conflict, InvalidRequest, NotFound
from jeton.core.ids import new_id
from jeton.core.statuses import Status
from jeton.services.ledger import clocks
from jeton.services.ledger.base import checked_metadata, checked_text, page_limit
from jeton.services.ledger.clocks import COMMUNITY_SELECT as _COMMUNITY
from jeton.services.ledger.clocks import community_info
from jeton.services.ledger.reads import LedgerReads
from jeton.services.ledger.results import (
    AccountInfo,
    AssetInfo,
    Balance,
    CommunityInfo,
    MemberInfo,
    Page,
)
from jeton.services.ledger.state import SYSTEM_KINDS, Declined, system_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.dialect import is_unique_violation
from jeton.store.tables.ledger import (
    accounts,
    assets,
    communities,
    members,
)


class LedgerSetup(LedgerReads):
    """Communities, assets, accounts, members and credit lines."""

    def create_community(self, name: str, community_id: str | None = None,
                         metadata: dict[str, Any] | None = None, *,
                         test_mode: bool = False) -> CommunityInfo:
        """A community; in `test_mode` its time is a test clock, stopped at the time it was
        made, that only an advance moves (services/ledger/clocks.py, decision 0056)."""
        cid = amounts.external_id(community_id, "community id") if community_id else new_id()
        name = checked_text(name, "name", 200)
        if type(test_mode) is not bool:
            raise InvalidRequest("test_mode must be true or false", status=Status.value_invalid)
        now = self.now_us()
        if test_mode:  # a test clock starts at a whole second: easier to read and to aim at
            now = now // 1_000_000 * 1_000_000

        def tx(conn: Connection) -> CommunityInfo:
            existing = conn.execute(sa.select(communities.c.name, communities.c.created_at_us)
                                    .where(communities.c.community_id == cid)).first()
            if existing is not None:
                was_test = clocks.is_test_mode(conn, cid)
                if existing[0] != name or was_test != test_mode:
                    raise Conflict(f"community {cid!r} already exists",
                                   status=Status.already_exists)
                return CommunityInfo(id=cid, name=name, created_at=from_us(existing[1]),
                                     test_mode=was_test)
            conn.execute(communities.insert().values(
                community_id=cid, name=name, metadata_json=json.dumps(checked_metadata(metadata)),
                created_at_us=now))
            if test_mode:
                clocks.start_clock(conn, cid, now)
            return CommunityInfo(id=cid, name=name, created_at=from_us(now), test_mode=test_mode)

        return self.store.run_write(tx)

    def get_community(self, community_id: str) -> CommunityInfo:
        with self.store.read() as conn:
            row = conn.execute(_COMMUNITY.where(
                communities.c.community_id == community_id)).first()
        if row is None:
            raise NotFound(f"no community {community_id!r}", status=Status.community_not_found)
        return community_info(row)

    def list_communities(self) -> list[CommunityInfo]:
        with self.store.read() as conn:
            rows = conn.execute(_COMMUNITY.order_by(communities.c.community_id)).all()
        return [community_info(r) for r in rows]

    def create_asset(self, community_id: str, code: str, scale: int = 0,
                     name: str = "") -> AssetInfo:
        """An asset with its system accounts (issuance, promotions, revenue, breakage)."""
        code = amounts.asset_code(code)
        scale = amounts.asset_scale(scale)
        name = checked_text(name, "name", 100)
        now = self.now_us()

        def tx(conn: Connection) -> AssetInfo:
            self._require_community(conn, community_id)
            row = conn.execute(sa.select(assets.c.scale, assets.c.name).where(
                assets.c.community_id == community_id, assets.c.code == code)).first()
            if row is not None:
                if row[0] != scale:
                    raise Conflict(f"asset {code} exists with scale {row[0]}",
                                   status=Status.already_exists)
                return AssetInfo(code=code, scale=row[0], name=row[1])
            conn.execute(assets.insert().values(community_id=community_id, code=code,
                                                scale=scale, name=name, created_at_us=now))
            conn.execute(accounts.insert(), [
                {"community_id": community_id, "account_id": system_id(kind, code),
                 "kind": kind, "member_id": None, "asset": code, "name": kind,
                 "tracked": False, "floor": None, "created_at_us": now}
                for kind in SYSTEM_KINDS])
            return AssetInfo(code=code, scale=scale, name=name)

        return self.store.run_write(tx)

    def list_assets(self, community_id: str) -> list[AssetInfo]:
        with self.store.read() as conn:
            rows = conn.execute(sa.select(assets.c.code, assets.c.scale, assets.c.name).where(
                assets.c.community_id == community_id).order_by(assets.c.code)).all()
        return [AssetInfo(code=r[0], scale=r[1], name=r[2]) for r in rows]

    def create_account(self, community_id: str, name: str, asset: str, *,
                       kind: str = "custom", floor: int | None = None) -> AccountInfo:
        """A named account of the community, e.g. `appstore` for a fixed fee on downloads.

        Named accounts are untracked (no hot row): any number of charges may credit one.
        """
        name = amounts.external_id(name, "account name")
        asset = amounts.asset_code(asset)
        if name in SYSTEM_KINDS or name.startswith("wallet"):
            raise InvalidRequest(f"{name!r} is reserved", status=Status.value_invalid)
        account_id = system_id(name, asset)
        now = self.now_us()

        def tx(conn: Connection) -> AccountInfo:
            self._require_asset(conn, community_id, asset)
            found = conn.execute(sa.select(accounts.c.kind).where(
                accounts.c.community_id == community_id,
                accounts.c.account_id == account_id)).first()
            if found is None:
                conn.execute(accounts.insert().values(
                    community_id=community_id, account_id=account_id, kind=kind, asset=asset,
                    name=name, tracked=False, floor=None, created_at_us=now))
            return AccountInfo(id=account_id, kind=found[0] if found else kind, asset=asset,
                               name=name, floor=floor)

        try:
            return self.store.run_write(tx)
        except Declined as d:  # an unknown asset: the caller gets the public exception
            raise d.error() from None

    def create_member(self, community_id: str, member_id: str, *, name: str = "",
                      email: str | None = None, metadata: dict[str, Any] | None = None,
                      on_created: Callable[[WorkSet, MemberInfo], None] | None = None,
                      ) -> MemberInfo:
        """A member; creating one that exists with the same details returns it (idempotent).

        A detail left out (an empty name, no email, no metadata) is not compared; one given
        that differs from the stored one is refused, `Conflict` (`already_exists`), naming the
        field and both values, and nothing changes (decision 0114). `on_created` runs in the
        same transaction for a new member only: the sign-up bonus.
        """
        member_id = amounts.external_id(member_id, "member id")
        name = checked_text(name, "name", 200)
        if email is not None:
            checked_text(email, "email", 200)
        meta = checked_metadata(metadata)

        def tx(conn: Connection) -> MemberInfo:
            self._require_community(conn, community_id)
            row = conn.execute(sa.select(members.c.name, members.c.email, members.c.metadata_json,
                                         members.c.created_at_us).where(
                members.c.community_id == community_id,
                members.c.member_id == member_id)).first()
            if row is not None:
                found = MemberInfo(id=member_id, name=row[0], email=row[1],
                                   metadata=json.loads(row[2]), created_at=from_us(row[3]))
                _refuse_other_details(found, {"name": name, "email": email, "metadata": meta})
                return found
            now = self.now_us()
            conn.execute(members.insert().values(
                community_id=community_id, member_id=member_id, name=name, email=email,
                metadata_json=json.dumps(meta), created_at_us=now))
            info = MemberInfo(id=member_id, name=name, email=email, metadata=meta,
                              created_at=from_us(now))
            if on_created is not None:
                ws = WorkSet(conn, self.store.dialect, community_id, now)
                try:
                    on_created(ws, info)
                except Declined as d:
                    raise d.error() from None
                self.run_hooks(ws)
                ws.flush()
            return info

        try:
            return self.store.run_write(tx)
        except sa.exc.IntegrityError as exc:  # registered meanwhile (PostgreSQL): read it now
            if not is_unique_violation(exc, "pk_members"):
                raise
            return self.store.run_write(tx)

    def get_member(self, community_id: str, member_id: str) -> MemberInfo:
        with self.store.read() as conn:
            row = conn.execute(sa.select(members.c.name, members.c.email, members.c.metadata_json,
                                         members.c.created_at_us).where(
                members.c.community_id == community_id,
                members.c.member_id == member_id)).first()
        if row is None:
            raise NotFound(f"no member {member_id!r}", status=Status.member_not_found)
        return MemberInfo(id=member_id, name=row[0], email=row[1], metadata=json.loads(row[2]),
                          created_at=from_us(row[3]))

    def list_members(self, community_id: str, *, limit: int = limits.page_size_default,
                     starting_after: str | None = None, search: str | None = None,
                     ) -> Page[MemberInfo]:
        limit = page_limit(limit)
        m = members.c
        stmt = sa.select(m.member_id, m.name, m.email, m.metadata_json, m.created_at_us).where(
            m.community_id == community_id)
        if starting_after:
            stmt = stmt.where(m.member_id > starting_after)
        if search:
            like = f"%{search.lower()}%"
            stmt = stmt.where(sa.or_(sa.func.lower(m.member_id).like(like),
                                     sa.func.lower(m.name).like(like),
                                     sa.func.lower(sa.func.coalesce(m.email, "")).like(like)))
        with self.store.read() as conn:
            rows = conn.execute(stmt.order_by(m.member_id).limit(limit + 1)).all()
        data = [MemberInfo(id=r[0], name=r[1], email=r[2], metadata=json.loads(r[3]),
                           created_at=from_us(r[4])) for r in rows[:limit]]
        return Page(data=data, has_more=len(rows) > limit,
                    next_cursor=data[-1].id if len(rows) > limit else None)

    def set_credit_line(self, community_id: str, member_id: str, asset: str, floor: int) -> Balance:
        """Let a member's wallet go down to `floor` (zero or negative): post-pay, credit lines."""
        if type(floor) is not int or floor > 0 or -floor > limits.amount_max:
            raise InvalidRequest("floor must be an integer at most 0", status=Status.amount_invalid)

        def tx(conn: Connection) -> None:
            ws = WorkSet(conn, self.store.dialect, community_id, self.now_us())
            acct = self._wallet(ws, member_id, asset)
            owed = ws.overdraft_lot(acct.account_id)
            if owed is not None and owed.remaining < floor:
                raise Declined(Status.limit_exceeded, "the member already owes more than that")
            conn.execute(accounts.update().where(
                accounts.c.community_id == community_id,
                accounts.c.account_id == acct.account_id).values(floor=floor))

        self._write_plain(tx)
        return self.balance(community_id, member_id, asset)


def _refuse_other_details(found: MemberInfo, given: dict[str, Any]) -> None:
    """A member registered again is the member that exists: a detail given that differs from
    the stored one is refused rather than dropped without a word (creating updates nothing)."""
    for field, value in given.items():
        stored = getattr(found, field)
        if isinstance(value, dict):  # as stored: JSON's values (a tuple reads back a list)
            value = json.loads(json.dumps(value, default=str))
        if value and value != stored:
            has = f"{field} {_shown(stored)}" if stored else f"no {field}"
            raise Conflict(f"member {found.id!r} exists with {has}, not {_shown(value)}; "
                           "nothing changed", status=Status.already_exists, field=field)


def _shown(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict) else repr(value)
