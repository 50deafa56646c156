"""What the funding services share: one idempotent write transaction, community settings, the
money accounts, and small checks.

`write_once` is the funding twin of the ledger's single-write path: it claims the idempotency
key, builds one WorkSet, runs the body (which may grant, spend and write funding rows on
`ws.conn`), stores the answer under the key, runs the ledger's hooks and flushes, all in one
database transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import amounts, currencies, limits
from jeton.core.clock import from_us, to_us
from jeton.core.errors import Conflict, InvalidRequest, NotFound
from jeton.core.statuses import Status
from jeton.core.transfers import TransferDraft, TransferKind
from jeton.services.funding.results import Entitlement
from jeton.services.ledger.results import Result, TransferResult
from jeton.services.ledger.service import Ledger
from jeton.services.ledger.state import SYSTEM_KINDS, Declined, Header, system_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.sql import insert_ignore, insert_new
from jeton.store.tables.funding import funding_settings
from jeton.store.tables.ledger import accounts, assets, communities, members

R = TypeVar("R", bound=Result)
T = TypeVar("T")

# Money accounts per currency, beside the asset's system accounts: `clearing` is what the
# payment processor took for us (it goes negative as money comes in), `deferred` is money for
# credits sold and not yet used up, a liability (docs/decisions/0009).
CLEARING = "clearing"
DEFERRED = "deferred"


def write_once(ledger: Ledger, community_id: str, key: str, operation: str,
               request: dict[str, Any], body: Callable[[WorkSet], R], result_type: type[R],
               *, now_us: int | None = None) -> R:
    """Run `body` once per idempotency key, in one transaction with its answer (see module doc)."""
    key = amounts.idempotency_key(key)
    return ledger.write_once(community_id, key, operation, request, body, result_type,
                             now_us=now_us)


def write_plain(ledger: Ledger, community_id: str, body: Callable[[WorkSet], T],
                *, now_us: int | None = None) -> T:
    """One transaction with a WorkSet and no idempotency key (jobs and webhook effects, which
    carry their own unique guards)."""

    def tx(conn: Connection) -> T:
        ws = WorkSet(conn, ledger.store.dialect, community_id,
                     ledger.now_us() if now_us is None else now_us)
        try:
            result = body(ws)
        except Declined as d:
            raise d.error() from None
        run_hooks(ledger, ws)
        ws.flush()
        return result

    return ledger.store.run_write(tx)


def run_hooks(ledger: Ledger, ws: WorkSet) -> None:
    """The ledger's hooks over what this transaction built (balance.low, auto-recharge...)."""
    if ws.results:
        for hook in ledger.hooks:
            hook(ws, ws.results)


def require_community(conn: Connection, community_id: str) -> None:
    found = conn.execute(sa.select(communities.c.community_id).where(
        communities.c.community_id == community_id)).first()
    if found is None:
        raise NotFound(f"no community {community_id!r}", status=Status.community_not_found)


def require_member(conn: Connection, community_id: str, member_id: str) -> None:
    found = conn.execute(sa.select(members.c.member_id).where(
        members.c.community_id == community_id, members.c.member_id == member_id)).first()
    if found is None:
        raise NotFound(f"no member {member_id!r}", status=Status.member_not_found)


def require_asset(conn: Connection, community_id: str, asset: str) -> None:
    found = conn.execute(sa.select(assets.c.code).where(
        assets.c.community_id == community_id, assets.c.code == asset)).first()
    if found is None:
        raise NotFound(f"no asset {asset!r} in this community", status=Status.asset_not_found)


# ---- settings ----

def get_setting(conn: Connection, community_id: str, name: str) -> dict[str, Any] | None:
    raw = conn.execute(sa.select(funding_settings.c.value_json).where(
        funding_settings.c.community_id == community_id,
        funding_settings.c.name == name)).scalar_one_or_none()
    if raw is None:
        return None
    value: dict[str, Any] = json.loads(raw)
    return value


def put_setting(conn: Connection, community_id: str, name: str, value: dict[str, Any],
                now_us: int) -> None:
    raw = json.dumps(value, sort_keys=True)
    if len(raw.encode()) > limits.metadata_bytes_max:
        raise InvalidRequest(f"setting {name} is over {limits.metadata_bytes_max} bytes",
                             status=Status.metadata_too_large)
    row = {"community_id": community_id, "name": name, "value_json": raw,
           "updated_at_us": now_us}
    if not insert_new(conn, funding_settings, ["community_id", "name"], row):
        conn.execute(funding_settings.update().where(
            funding_settings.c.community_id == community_id,
            funding_settings.c.name == name).values(value_json=raw, updated_at_us=now_us))


# ---- money in the ledger ----

def ensure_money_accounts(ledger: Ledger, community_id: str, currency: str) -> str:
    """The currency as an asset of the community (scale = its exponent) with its clearing and
    deferred accounts. Returns the code. Refused if the code exists with another scale."""
    code = currencies.currency_code(currency)
    scale = currencies.exponent(code)
    now_us = ledger.now_us()

    def tx(conn: Connection) -> None:
        require_community(conn, community_id)
        existing = conn.execute(sa.select(assets.c.scale).where(
            assets.c.community_id == community_id, assets.c.code == code)).scalar_one_or_none()
        if existing is not None and existing != scale:
            raise Conflict(f"asset {code} exists with scale {existing}, but {code} money has "
                           f"{scale} decimals", status=Status.asset_mismatch)
        if existing is None:
            conn.execute(insert_ignore(conn.dialect.name, assets, ["community_id", "code"]),
                         {"community_id": community_id, "code": code, "scale": scale,
                          "name": f"{code} money", "created_at_us": now_us})
        rows = [{"community_id": community_id, "account_id": system_id(kind, code),
                 "kind": kind, "member_id": None, "asset": code, "name": kind,
                 "tracked": False, "floor": None, "created_at_us": now_us}
                for kind in (*SYSTEM_KINDS, CLEARING, DEFERRED)]
        stmt = insert_ignore(conn.dialect.name, accounts, ["community_id", "account_id"])
        for row in rows:
            conn.execute(stmt, row)

    ledger.store.run_write(tx)
    return code


def post_money(ws: WorkSet, currency: str, amount_minor: int, *, refund: bool,
               member_id: str, actor: str, reason_code: str, memo: str,
               metadata: dict[str, Any]) -> TransferResult:
    """Money received (clearing → deferred) or given back (deferred → clearing)."""
    clearing, deferred = system_id(CLEARING, currency), system_id(DEFERRED, currency)
    ws.load([clearing, deferred], with_lots=False)
    if clearing not in ws.accounts or deferred not in ws.accounts:
        raise Declined(Status.account_not_found,
                       f"no {currency} money accounts: create a pack or plan in {currency}")
    draft = TransferDraft(TransferKind.payment, currency)
    sign = -1 if refund else 1
    draft.add(clearing, -sign * amount_minor)
    draft.add(deferred, sign * amount_minor)
    header = Header(TransferKind.payment, currency, member_id=member_id, actor=actor,
                    reason_code=reason_code, memo=memo[:limits.memo_chars_max],
                    metadata=metadata)
    return ws.commit_transfer(header, draft)


# ---- checks ----

def text(value: object, what: str, chars_max: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or len(value) > chars_max or (
            not allow_empty and not value.strip()):
        raise InvalidRequest(f"{what} must be text of {0 if allow_empty else 1}-{chars_max} "
                             "characters", status=Status.value_invalid)
    return value


def days(value: object, what: str) -> int | None:
    """A number of days (1 to the lot expiry limit), or None for never."""
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= limits.lot_expiry_days_max:
        raise InvalidRequest(f"{what} must be 1-{limits.lot_expiry_days_max} days or None",
                             status=Status.expiry_invalid)
    return value


def expiry_after(now_us: int, n_days: int | None) -> int | None:
    return None if n_days is None else now_us + n_days * 86_400_000_000


def entitlements(values: object, what: str) -> list[Entitlement]:
    """Classes or keys with optional days: `["vip"]`, `[("vip", 30)]`, `[{"name": ..}]`."""
    if values is None:
        return []
    if not isinstance(values, list | tuple):
        raise InvalidRequest(f"{what} must be a list", status=Status.value_invalid)
    if len(values) > limits.entitlements_max:
        raise InvalidRequest(f"at most {limits.entitlements_max} {what}",
                             status=Status.value_invalid)
    out: list[Entitlement] = []
    for v in values:
        if isinstance(v, Entitlement):
            item = v
        elif isinstance(v, str):
            item = Entitlement(name=v)
        elif isinstance(v, tuple | list) and len(v) == 2:
            item = Entitlement(name=v[0], days=v[1])
        elif isinstance(v, dict):
            item = Entitlement.model_validate(v)
        else:
            raise InvalidRequest(f"{what}: {v!r} is not a name or (name, days)",
                                 status=Status.value_invalid)
        amounts.external_id(item.name, f"{what} name")
        days(item.days, f"{what} days")
        out.append(item)
    if len({e.name for e in out}) != len(out):
        raise InvalidRequest(f"{what} lists a name twice", status=Status.value_invalid)
    return out


def requirements(values: object) -> list[str]:
    """`class:NAME` / `key:NAME` requirements of who may see something."""
    if values is None:
        return []
    if not isinstance(values, list | tuple) or len(values) > limits.access_alternatives_max:
        raise InvalidRequest(f"visible_to must be a list of at most "
                             f"{limits.access_alternatives_max} 'class:NAME' or 'key:NAME'",
                             status=Status.value_invalid)
    out = []
    for v in values:
        kind, _, name = str(v).partition(":")
        if kind not in ("class", "key"):
            raise InvalidRequest(f"visible_to takes 'class:NAME' or 'key:NAME', got {v!r}",
                                 status=Status.value_invalid)
        amounts.external_id(name, f"{kind} name")
        out.append(f"{kind}:{name}")
    return out


def month_key(now_us: int) -> int:
    """202601 for any instant of January 2026 (UTC): the calendar month of a monthly cap."""
    when = from_us(now_us)
    return when.year * 100 + when.month


def period_bounds(period: str, now_us: int) -> tuple[str, int]:
    """The key and start (µs) of the UTC day, ISO week or calendar month containing now."""
    when = from_us(now_us)
    if period == "day":
        start = when.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.strftime("%Y-%m-%d"), to_us(start)
    if period == "week":
        monday = (when - timedelta(days=when.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0)
        year, week, _ = monday.isocalendar()
        return f"{year}-W{week:02d}", to_us(monday)
    if period == "month":
        start = when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return start.strftime("%Y-%m"), to_us(start)
    raise InvalidRequest(f"period must be day, week or month, got {period!r}",
                         status=Status.value_invalid)
