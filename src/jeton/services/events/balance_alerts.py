"""Low-balance alerts at several levels: `info`, `warning` and `critical` thresholds of a
member's available balance, each sending `balance.low` with its `level` once per crossing
(docs/decisions/0061).

A level is armed while the balance is at or above its threshold. A debit that takes the balance
below an armed level's threshold sends one `balance.low` for that level and disarms it; the
level is armed again only once the balance is back at the threshold or above (a grant, a
purchase, a refund). The outbox's ledger hook (outbox.py, `_low_balance`) does both inside the
write's transaction, under the wallet's lock, so racing charges send each crossing once. A fall
through several levels in one debit sends each of them, highest threshold first.

The single threshold of `set_low_balance_threshold` stays as it was (its events say `level`
null); the levels are a separate set, and a member may have both.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import limits
from jeton.core.errors import InvalidRequest, NotFound
from jeton.core.statuses import Status
from jeton.services.events.outbox import Events
from jeton.services.events.results import LowBalanceLevel, LowBalanceLevels
from jeton.services.ledger.state import wallet_id
from jeton.store.dialect import for_update
from jeton.store.tables.ledger import accounts, members
from jeton.store.tables.webhooks import balance_alert_levels

# From the least to the most urgent: thresholds must fall in this order.
LEVELS = ("info", "warning", "critical")


def set_levels(events: Events, community_id: str, member_id: str,
               thresholds: Mapping[str, int | None], *,
               asset: str = "CREDIT") -> LowBalanceLevels:
    """Set the member's levels to `thresholds` ({"warning": 100, "critical": 20}); a level
    left out or None is removed, an empty mapping removes them all. A level whose threshold is
    already above the balance is set disarmed: it sends nothing until the balance has been back."""
    wanted = _checked(thresholds)
    now = events.now_us()
    t = balance_alert_levels.c

    def tx(conn: Connection) -> None:
        found = conn.execute(sa.select(members.c.member_id).where(
            members.c.community_id == community_id,
            members.c.member_id == member_id)).first()
        if found is None:
            raise NotFound(f"no member {member_id!r}", status=Status.member_not_found)
        # The wallet's lock orders this against the ledger writes that flip `armed`.
        row = conn.execute(for_update(sa.select(
            accounts.c.posted, accounts.c.pending, accounts.c.floor).where(
            accounts.c.community_id == community_id,
            accounts.c.account_id == wallet_id(member_id, asset)), conn.dialect.name)).first()
        available = row[0] - row[1] - (row[2] or 0) if row is not None else 0
        key = (t.community_id == community_id, t.member_id == member_id, t.asset == asset)
        old = {r.level: r for r in conn.execute(sa.select(balance_alert_levels).where(*key))}
        conn.execute(balance_alert_levels.delete().where(*key))
        for level, threshold in wanted.items():
            before = old.get(level)
            # An unchanged level keeps its state: setting the same figures again sends nothing.
            armed = (bool(before.armed) if before is not None and before.threshold == threshold
                     else available >= threshold)
            conn.execute(balance_alert_levels.insert().values(
                community_id=community_id, member_id=member_id, asset=asset, level=level,
                threshold=threshold, armed=armed, updated_at_us=now))

    events.store.run_write(tx)
    events.invalidate(community_id)
    return get_levels(events, community_id, member_id, asset=asset)


def get_levels(events: Events, community_id: str, member_id: str, *,
               asset: str = "CREDIT") -> LowBalanceLevels:
    t = balance_alert_levels.c
    with events.store.read() as conn:
        if conn.execute(sa.select(members.c.member_id).where(
                members.c.community_id == community_id,
                members.c.member_id == member_id)).first() is None:
            raise NotFound(f"no member {member_id!r}", status=Status.member_not_found)
        rows = conn.execute(sa.select(t.level, t.threshold, t.armed).where(
            t.community_id == community_id, t.member_id == member_id, t.asset == asset)).all()
    by_level = {r.level: r for r in rows}
    return LowBalanceLevels(member_id=member_id, asset=asset, levels=[
        LowBalanceLevel(level=name, threshold=by_level[name].threshold,
                        armed=bool(by_level[name].armed))
        for name in LEVELS if name in by_level])


def _checked(thresholds: Mapping[str, int | None]) -> dict[str, int]:
    if not isinstance(thresholds, Mapping):
        raise InvalidRequest("levels must map info, warning or critical to a threshold",
                             status=Status.value_invalid)
    wanted: dict[str, int] = {}
    for level, threshold in thresholds.items():
        if level not in LEVELS:
            raise InvalidRequest(f"unknown level {level!r}; levels are {', '.join(LEVELS)}",
                                 status=Status.value_invalid)
        if threshold is None:
            continue
        if type(threshold) is not int or not 0 < threshold <= limits.amount_max:
            raise InvalidRequest(f"the {level} threshold must be a positive integer",
                                 status=Status.amount_invalid)
        wanted[level] = threshold
    figures = [wanted[name] for name in LEVELS if name in wanted]
    if any(a <= b for a, b in pairwise(figures)):
        raise InvalidRequest("thresholds must fall from info to warning to critical",
                             status=Status.value_invalid)
    return {name: wanted[name] for name in LEVELS if name in wanted}
