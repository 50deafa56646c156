"""Wallet freezes, and the owner's alert when a member keeps tripping a limit.

- A frozen wallet lets nothing out: `protection_hook`, a ledger hook, refuses inside the write's
  own transaction every spend, charge, capture and transfer that debits a frozen member's
  wallet (`wallet_frozen`), and `require_not_frozen` refuses a purchase before any checkout is
  made. Credits may still come in (a grant, a refund, a purchase paid before the freeze) and
  go out by staff's hand (a reversal) or by expiry: the freeze stops the member, not the staff.
  Freezing and unfreezing need a reason; both are in the staff audit log and the outbox.
- The same hook holds spends made with an API key to the key's budget (key_budgets.py).
- A decline by a velocity limit (velocity.py) rolls its transaction back, so the trip is counted
  afterwards in a transaction of its own (`record_trip`): when a member's trips in one UTC day
  reach the community's `alert_after_trips`, one `member.limit_tripped` event tells the owner.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import limits
from jeton.core.clock import from_us
from jeton.core.errors import InvalidRequest, JetonError, WalletFrozen
from jeton.core.statuses import Status
from jeton.services.access.audit import record_audit
from jeton.services.access.staff import Permission, StaffUser, require
from jeton.services.charging import key_budgets, velocity
from jeton.services.charging.results import WalletFreeze
from jeton.services.events.outbox import emit_event
from jeton.services.ledger.results import TransferResult
from jeton.services.ledger.state import Declined, PreRead, member_read, wallet_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.dialect import for_update
from jeton.store.sql import insert_ignore
from jeton.store.tables.ledger import members
from jeton.store.tables.protection import (
    key_budgets as key_budget_rules,
)
from jeton.store.tables.protection import (
    limit_trips,
    spending_settings,
    velocity_limits,
    wallet_freezes,
)

if TYPE_CHECKING:
    from jeton.app import Jeton

# Kinds of transfer a frozen member may not make: what the member does, not what staff or jobs
# do (reversal, expiry, adjustment).
FROZEN_KINDS = frozenset({"spend", "capture", "transfer"})
# Debits made by staff's hand or by a refund, which a freeze or a limit never stops.
STAFF_REASONS = frozenset({"staff_charge", "refund"})
REASON_CHARS_MAX = limits.freeze_reason_chars_max
DAY_US = 86_400_000_000


def install(j: Jeton) -> None:
    """Put the protection hook first on `j.ledger`: a frozen or over-limit member is refused
    before the other hooks do any work; its read goes ahead with the write's first round trip
    on PostgreSQL (installing twice is harmless)."""
    if protection_hook not in j.ledger.hooks:
        j.ledger.hooks.insert(0, protection_hook)
    if pre_read not in j.ledger.pre_reads:
        j.ledger.pre_reads.append(pre_read)
    if hold_guard not in j.ledger.hold_hooks:
        j.ledger.hold_hooks.append(hold_guard)


# One row whatever is stored: the freeze's reason (or NULL), how many velocity limits the asset
# has (0: the debit needs no counting) and how many API key budgets (0: no key's spend is
# counted). Three questions, one statement, one row.
_GUARD = sa.select(
    sa.select(wallet_freezes.c.reason).where(
        wallet_freezes.c.community_id == sa.bindparam("c"),
        wallet_freezes.c.member_id == sa.bindparam("m")).scalar_subquery(),
    sa.select(sa.func.count()).select_from(velocity_limits).where(
        velocity_limits.c.community_id == sa.bindparam("c"),
        velocity_limits.c.asset == sa.bindparam("a")).scalar_subquery(),
    sa.select(sa.func.count()).select_from(key_budget_rules).where(
        key_budget_rules.c.community_id == sa.bindparam("c"),
        key_budget_rules.c.asset == sa.bindparam("a")).scalar_subquery())


_guard_read = member_read("protection", _GUARD)


def pre_read(community_id: str, member_id: str, asset: str) -> list[PreRead]:
    """The guard `protection_hook` reads, sent ahead with a debit's first round trip."""
    return [_guard_read(community_id, member_id, asset)]


def protection_hook(ws: WorkSet, results: list[TransferResult]) -> None:
    """Ledger hook: refuse a debit of a frozen wallet, then hold spends to velocity limits."""
    mine = [r for r in results if r.kind in FROZEN_KINDS and r.member_id
            and r.reason_code not in STAFF_REASONS and _debits_wallet(r)]
    if not mine:
        return
    by_wallet: dict[tuple[str, str], list[TransferResult]] = {}
    for r in mine:  # one pass: a batch of many members' spends is not scanned per member
        by_wallet.setdefault((r.member_id or "", r.asset), []).append(r)
    counted: list[TransferResult] = []
    budgeted: list[TransferResult] = []
    for (member_id, asset), theirs in sorted(by_wallet.items()):  # keys are distinct
        row = ws.read_ahead(pre_read(ws.community_id, member_id, asset)[0])
        reason, limit_count, budget_count = row if row is not None else (None, 0, 0)
        if reason is not None:
            raise WalletFrozen(f"the wallet of {member_id!r} is frozen by staff: {reason}",
                               member=member_id)
        spends = [r for r in theirs if r.kind in velocity.SPEND_KINDS]
        if limit_count:
            counted += spends
        if budget_count:
            budgeted += [r for r in spends if r.actor.startswith(key_budgets.ACTOR_PREFIX)]
    velocity.check_and_count(ws, counted)
    if budgeted:
        key_budgets.check_and_count(ws, budgeted)


def hold_guard(ws: WorkSet, placed: list[dict[str, Any]]) -> None:
    """Ledger hold hook: a frozen wallet places no hold (decision 0089). The freeze's row is
    the one `pre_read` sent ahead with the hold's first round trip on PostgreSQL."""
    for member_id, asset in sorted({(h["member_id"], h["asset"]) for h in placed}):
        refuse_frozen(ws, member_id, asset)


def refuse_frozen(ws: WorkSet, member_id: str, asset: str) -> None:
    """Raise WalletFrozen if the member's wallet is frozen, by the row `pre_read` sent ahead
    with the write's first round trip (read now where nothing was sent ahead)."""
    row = ws.read_ahead(pre_read(ws.community_id, member_id, asset)[0])
    if row is not None and row[0] is not None:
        raise WalletFrozen(f"the wallet of {member_id!r} is frozen by staff: {row[0]}",
                           member=member_id)


def _debits_wallet(r: TransferResult) -> bool:
    wid = wallet_id(r.member_id or "", r.asset)
    return sum(p.amount for p in r.postings if p.account_id == wid) < 0


# ---- freezing ----


def freeze(j: Jeton, community_id: str, member_id: str, *, reason: str,
           actor: StaffUser | str) -> WalletFreeze:
    """Freeze a member's wallet. Freezing a frozen wallet keeps the first freeze."""
    return _set_frozen(j, community_id, member_id, True, reason=reason, actor=actor)


def unfreeze(j: Jeton, community_id: str, member_id: str, *, reason: str,
             actor: StaffUser | str) -> WalletFreeze:
    """Let the member spend again. Unfreezing a wallet that is not frozen changes nothing."""
    return _set_frozen(j, community_id, member_id, False, reason=reason, actor=actor)


def _set_frozen(j: Jeton, community_id: str, member_id: str, frozen: bool, *, reason: str,
                actor: StaffUser | str) -> WalletFreeze:
    """Freeze or unfreeze, audited and announced; a wallet already as asked is left as it is
    (no audit entry, no event)."""
    user_id = _staff(actor)
    reason = _reason(reason)
    now_us = j.ledger.now_us()
    action, by = ("wallet.frozen", "frozen_by") if frozen else ("wallet.unfrozen", "unfrozen_by")

    def tx(conn: Connection) -> None:
        _require_member(conn, community_id, member_id)
        if (_freeze_row(conn, community_id, member_id) is not None) == frozen:
            return
        if frozen:
            conn.execute(wallet_freezes.insert().values(
                community_id=community_id, member_id=member_id, reason=reason,
                frozen_by=user_id, frozen_at_us=now_us))
        else:
            conn.execute(wallet_freezes.delete().where(
                wallet_freezes.c.community_id == community_id,
                wallet_freezes.c.member_id == member_id))
        record_audit(conn, community_id, user_id, action, target=member_id,
                     detail={"reason": reason})
        emit_event(conn, community_id, action, member_id,
                   {"member_id": member_id, "reason": reason, by: user_id}, now_us=now_us)

    j.store.run_write(tx)
    return get_freeze(j, community_id, member_id)


def get_freeze(j: Jeton, community_id: str, member_id: str) -> WalletFreeze:
    with j.store.read() as conn:
        _require_member(conn, community_id, member_id)
        row = _freeze_row(conn, community_id, member_id)
    if row is None:
        return WalletFreeze(member_id=member_id, frozen=False)
    return WalletFreeze(member_id=member_id, frozen=True, reason=row.reason,
                        frozen_by=row.frozen_by, frozen_at=from_us(row.frozen_at_us))


def require_not_frozen(j: Jeton, community_id: str, member_id: str) -> None:
    """Refuse (`wallet_frozen`) what a frozen member may not start, such as a purchase."""
    with j.store.read() as conn:
        row = _freeze_row(conn, community_id, member_id)
    if row is not None:
        raise WalletFrozen(f"the wallet of {member_id!r} is frozen by staff: {row.reason}",
                           member=member_id)


def _freeze_row(conn: Connection, community_id: str,
                member_id: str) -> sa.Row[Any, Any, Any] | None:
    f = wallet_freezes.c
    return conn.execute(sa.select(f.reason, f.frozen_by, f.frozen_at_us).where(
        f.community_id == community_id, f.member_id == member_id)).first()


def _require_member(conn: Connection, community_id: str, member_id: str) -> None:
    if conn.execute(sa.select(members.c.member_id).where(
            members.c.community_id == community_id,
            members.c.member_id == member_id)).first() is None:
        raise Declined(Status.member_not_found, f"no member {member_id!r}").error()


def _staff(actor: StaffUser | str) -> str:
    """Who freezes: a staff user allowed to post credits (owner, moderator), or the id of one
    from a trusted caller (the CLI, an API key)."""
    if isinstance(actor, StaffUser):
        require(actor, Permission.post_credits)
        return actor.user_id
    if not isinstance(actor, str) or not actor or len(actor) > 150:
        raise InvalidRequest("actor must be a staff user or its id", status=Status.value_invalid)
    return actor.removeprefix("staff:")


def _reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip() or len(reason) > REASON_CHARS_MAX:
        raise InvalidRequest(f"a reason of 1-{REASON_CHARS_MAX} characters is required",
                             status=Status.value_invalid)
    return reason.strip()


# ---- trips and the owner's alert ----


@contextmanager
def tripwire(j: Jeton, community_id: str, member_id: str) -> Iterator[None]:
    """Count a velocity decline raised inside the block as a trip of `member_id`, then let it
    go on to the caller."""
    try:
        yield
    except JetonError as exc:
        if exc.status is Status.velocity_limit_exceeded:
            record_trip(j, community_id, str(exc.extra.get("member", member_id)), exc)
        raise


def record_trip(j: Jeton, community_id: str, member_id: str, exc: JetonError) -> bool:
    """Count one trip of a limit; True when this trip sent the owner's alert."""
    now_us = j.ledger.now_us()
    day_start_us = now_us - now_us % DAY_US

    def tx(conn: Connection) -> bool:
        threshold = alert_after_trips(conn, community_id)
        t = limit_trips.c
        key = (t.community_id == community_id, t.member_id == member_id)
        conn.execute(insert_ignore(conn.dialect.name, limit_trips,
                                   ["community_id", "member_id"]), {
            "community_id": community_id, "member_id": member_id,
            "day_start_us": day_start_us, "trips": 0, "alerted": False,
            "last_status": exc.status.value, "last_at_us": now_us})
        row = conn.execute(for_update(sa.select(t.day_start_us, t.trips, t.alerted).where(*key),
                                      conn.dialect.name)).one()
        trips, alerted = (row.trips, row.alerted) if row.day_start_us == day_start_us else (0,
                                                                                             False)
        trips += 1
        alert = trips >= threshold and not alerted
        conn.execute(limit_trips.update().where(*key).values(
            day_start_us=day_start_us, trips=trips, alerted=alerted or alert,
            last_status=exc.status.value, last_at_us=now_us))
        if alert:
            emit_event(conn, community_id, "member.limit_tripped", member_id, {
                "member_id": member_id, "trips_today": trips, "status": exc.status.value,
                "detail": exc.detail, "limit": exc.extra.get("limit"),
                "period": exc.extra.get("period"), "service": exc.extra.get("service"),
                "retry_after": exc.extra.get("retry_after")}, now_us=now_us)
        return alert

    return bool(j.store.run_write(tx))


def trips_today(j: Jeton, community_id: str, member_id: str) -> int:
    now_us = j.ledger.now_us()
    t = limit_trips.c
    with j.store.read() as conn:
        row = conn.execute(sa.select(t.day_start_us, t.trips).where(
            t.community_id == community_id, t.member_id == member_id)).first()
    return int(row.trips) if row is not None and row.day_start_us == now_us - now_us % DAY_US \
        else 0


def tripping_today(j: Jeton, community_id: str, *, limit: int = 20) -> list[tuple[str, int]]:
    """Members who reached the alert threshold today, most trips first: (member id, trips)."""
    now_us = j.ledger.now_us()
    t = limit_trips.c
    with j.store.read() as conn:
        rows = conn.execute(sa.select(t.member_id, t.trips).where(
            t.community_id == community_id, t.day_start_us == now_us - now_us % DAY_US,
            t.alerted.is_(True)).order_by(t.trips.desc(), t.member_id).limit(limit)).all()
    return [(r.member_id, int(r.trips)) for r in rows]


def alert_after_trips(conn: Connection, community_id: str) -> int:
    found = conn.execute(sa.select(spending_settings.c.alert_after_trips).where(
        spending_settings.c.community_id == community_id)).scalar()
    return int(found) if found is not None else velocity.ALERT_AFTER_TRIPS_DEFAULT

