"""The awarding job: count new transfers of the journal into progress, awards and leaderboards.

Awarding is off the charge path (decision 0066): a charge writes nothing for gamification. The
job `achievements.award` reads the journal by cursor, as webhook fan-out reads events:
- the fast path reads transfers newer than the cursor's head, in id order;
- the sweep reads, up to the horizon below which no write transaction is still open, transfers
  at or below the head that committed after the fast path passed their id (an id is taken
  before its transaction commits), skipping those already counted (`award_seen`).

One transaction per batch locks the community's cursor row, counts the batch (core/awarding.py),
writes counters, challenge windows, awards, leaderboard totals, the points and credits granted
(ledger grants on a WorkSet, so the journal and the awards commit together), the events
(`badge.awarded`, `level.reached`, `challenge.completed`) and the cursor. A crash anywhere rolls
all of it back, and the next run counts the batch again from the same cursor: exactly once. An
award's primary key (member, award key) and a grant's idempotency key are the last line.

What counts (every asset but points; staff charges, refunds and reversals never count):
- a charge: a `spend` or `capture` (charges, metered use, plain spends) by its member;
- a royalty: what the same transfer pays to another member's wallet (a split to a party);
- a reward: a `grant` with reason `reward`; a purchase: a `payment` with reason `purchase`;
- a transfer received: what a member-to-member `transfer` pays into the receiver's wallet.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import limits
from jeton.core.achievements import POINTS_ASSET, Achievements
from jeton.core.allowances import window_key
from jeton.core.awarding import (
    Activity,
    ActivityKind,
    Award,
    LeaderboardPeriod,
    MemberProgress,
    apply,
    leaderboard_window,
)
from jeton.core.clock import from_us
from jeton.core.transfers import TransferKind
from jeton.services.events.cursors import sweep_horizon
from jeton.services.events.outbox import emit_event
from jeton.services.gamification.rules import rules_of
from jeton.services.ledger.service import Ledger
from jeton.services.ledger.state import Header, LotSpec, system_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.dialect import for_update, is_unique_violation
from jeton.store.sql import insert_ignore, upsert
from jeton.store.tables.achievements import (
    achievement_awards,
    achievement_counters,
    award_cursors,
    award_seen,
    challenge_windows,
    leaderboard_totals,
)
from jeton.store.tables.ledger import accounts, postings, transfers

_T, _P, _A = transfers.c, postings.c, accounts.c
_CHARGE_KINDS = (TransferKind.spend.value, TransferKind.capture.value)
_NEVER_COUNTED = frozenset({"staff_charge", "refund"})
_COLS = (_T.transfer_id, _T.kind, _T.asset, _T.member_id, _T.service, _T.reason_code,
         _T.effective_at_us, _T.actor)
ACTOR = "system:achievements"  # who the job's grants (points, a challenge's credits) are by


class Awarding:
    """Runs the awarding job for one community at a time (see the module doc)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._points_ready: set[str] = set()

    def run(self, community_id: str) -> int:
        """Count every new transfer; returns how many were read (its own grants left out)."""
        with self.ledger.store.read() as conn:
            if not self._due(conn, community_id):
                return 0  # nothing new and nothing to sweep: no write transaction at all
            rules = rules_of(conn, community_id)
        if rules.points or any(c.points for c in rules.challenges.values()):
            self._ensure_points(community_id)
        total = 0
        for _ in range(limits.award_batches_per_pass_max):
            done, more = self.ledger.store.run_write(
                lambda conn: self._batch(conn, community_id))
            total += done
            if not more:
                break
        return total

    def _ensure_points(self, community_id: str) -> None:
        """The POINTS asset, made once per process and community (creating it is idempotent)."""
        if community_id not in self._points_ready:
            try:
                self.ledger.create_asset(community_id, POINTS_ASSET, 0, "Points")
            except sa.exc.IntegrityError as exc:  # another process made it a moment ago
                if not is_unique_violation(exc):
                    raise
            self._points_ready.add(community_id)

    def _due(self, conn: Connection, community_id: str) -> bool:
        c = award_cursors.c
        cursor = conn.execute(sa.select(c.head_transfer_id, c.swept_transfer_id).where(
            c.community_id == community_id)).first()
        head, swept = (cursor[0], cursor[1]) if cursor is not None else (None, None)
        if head is not None:
            sweep_to = min(sweep_horizon(), head)
            if swept is None or swept < sweep_to:
                return True
        newer = sa.select(_T.transfer_id).where(_T.community_id == community_id)
        if head is not None:
            newer = newer.where(_T.transfer_id > head)
        return conn.execute(newer.limit(1)).first() is not None

    # ---- one batch ----

    def _batch(self, conn: Connection, community_id: str) -> tuple[int, bool]:
        dialect = self.ledger.store.dialect
        c = award_cursors.c
        select_cursor = for_update(sa.select(c.head_transfer_id, c.swept_transfer_id).where(
            c.community_id == community_id), dialect)
        cursor = conn.execute(select_cursor).first()
        if cursor is None:
            conn.execute(insert_ignore(dialect, award_cursors, ["community_id"]),
                         {"community_id": community_id, "head_transfer_id": None,
                          "swept_transfer_id": None, "updated_at_us": self.ledger.now_us()})
            cursor = conn.execute(select_cursor).one()
        head: str | None = cursor[0]
        swept: str | None = cursor[1]
        batch = limits.award_batch_size
        stmt = sa.select(*_COLS).where(_T.community_id == community_id)
        if head is not None:
            stmt = stmt.where(_T.transfer_id > head)
        fresh = conn.execute(stmt.order_by(_T.transfer_id).limit(batch)).all()
        late: list[Any] = []
        sweep_to = min(sweep_horizon(), head) if head is not None else None
        if sweep_to is not None and (swept is None or swept < sweep_to):
            s = award_seen.c
            stmt = sa.select(*_COLS).where(
                _T.community_id == community_id, _T.transfer_id <= sweep_to,
                ~sa.select(s.transfer_id).where(s.community_id == community_id,
                                                s.transfer_id == _T.transfer_id).exists())
            if swept is not None:
                stmt = stmt.where(_T.transfer_id > swept)
            late = list(conn.execute(stmt.order_by(_T.transfer_id).limit(batch)).all())
        rows = sorted([*fresh, *late], key=lambda r: str(r[0]))
        if rows:
            self._count(conn, community_id, rows)
        if fresh:
            conn.execute(insert_ignore(dialect, award_seen, ["community_id", "transfer_id"]),
                         [{"community_id": community_id, "transfer_id": r[0]} for r in fresh])
        new_head = fresh[-1][0] if fresh else head
        new_swept = swept
        if sweep_to is not None:
            new_swept = late[-1][0] if len(late) == batch else sweep_to
        if new_swept is not None and new_swept != swept:
            conn.execute(award_seen.delete().where(award_seen.c.community_id == community_id,
                                                   award_seen.c.transfer_id <= new_swept))
        if (new_head, new_swept) != (head, swept):
            conn.execute(award_cursors.update().where(c.community_id == community_id).values(
                head_transfer_id=new_head, swept_transfer_id=new_swept,
                updated_at_us=self.ledger.now_us()))
        counted = sum(1 for r in rows if r[7] != ACTOR)  # not the job's own grants
        return counted, len(fresh) == batch or len(late) == batch

    def _count(self, conn: Connection, community_id: str, rows: Sequence[Any]) -> None:
        activities = list(_activities(conn, community_id, rows))
        if not activities:
            return
        rules = rules_of(conn, community_id)
        members = sorted({a.member_id for a in activities})
        progress = _load_progress(conn, community_id, members, rules, activities)
        ws = WorkSet(conn, self.ledger.store.dialect, community_id, self.ledger.now_us())
        totals: dict[tuple[str, str, str, str], int] = defaultdict(int)
        award_rows: list[dict[str, Any]] = []
        grants: list[_Grant] = []
        for activity in activities:
            mine = progress[activity.member_id]
            out = apply(rules, mine, activity)
            for metric, amount in out.totals.items():
                for period in LeaderboardPeriod:
                    window = leaderboard_window(period, activity.at_us)
                    totals[(metric.value, period.value, window, activity.member_id)] += amount
            if out.points:
                grants.append(_Grant(
                    activity.member_id, POINTS_ASSET, out.points, "points",
                    f"jeton:points:{activity.transfer_id}:{activity.member_id}",
                    {"rules": out.point_rules, "transfer_id": activity.transfer_id}))
            for award in out.awards:
                award_rows.append(_award_row(community_id, activity, award))
                grants.extend(self._announce(ws, community_id, activity, award, rules))
        # Wallets in sorted order, as every ledger write takes them: no deadlock with a charge.
        for grant in sorted(grants, key=lambda g: (g.member_id, g.asset, g.key)):
            self._grant(ws, grant)
        _write_progress(conn, community_id, progress, ws.now_us)
        if award_rows:
            conn.execute(achievement_awards.insert(), award_rows)
        if totals:
            conn.execute(upsert(self.ledger.store.dialect, leaderboard_totals,
                                ["community_id", "metric", "period", "window", "member_id"],
                                add=("total",)),
                         [{"community_id": community_id, "metric": m, "period": p,
                           "window": w, "member_id": who, "total": t}
                          for (m, p, w, who), t in sorted(totals.items())])
        ws.flush()

    def _announce(self, ws: WorkSet, community_id: str, activity: Activity, award: Award,
                  rules: Achievements) -> list[_Grant]:
        """The award's event, and the credits a completed challenge pays."""
        member = activity.member_id
        base = {"member_id": member, "transfer_id": activity.transfer_id}
        if award.kind == "badge":
            badge = rules.badges[award.code]
            emit_event(ws, community_id, "badge.awarded", member, {
                **base, "badge": badge.code, "name": badge.name, "emoji": badge.emoji,
                "image_url": badge.image_url, "description": badge.description})
            return []
        if award.kind == "level":
            level = rules.levels[int(award.code) - 1]
            emit_event(ws, community_id, "level.reached", member, {
                **base, "rank": level.rank, "name": level.name, "points": level.points})
            return []
        window = award.key.rsplit(":", 1)[1]
        emit_event(ws, community_id, "challenge.completed", member, {
            **base, "challenge": award.code, "name": award.name, "window": window,
            "credits": award.credits, "points": award.points})
        if not award.credits:
            return []
        return [_Grant(member, activity.asset, award.credits, "challenge",
                       f"jeton:challenge:{member}:{award.code}:{window}",
                       {"challenge": award.code, "window": window})]

    def _grant(self, ws: WorkSet, g: _Grant) -> None:
        header = Header(TransferKind.grant, g.asset, member_id=g.member_id, actor=ACTOR,
                        reason_code=g.reason, metadata=g.metadata, idempotency_key=g.key)
        self.ledger.apply_grant(ws, header, g.member_id, g.amount, LotSpec(source=g.reason),
                                system_id("promotions", g.asset))


@dataclass(frozen=True, slots=True)
class _Grant:
    """Points or a challenge's credits to grant, once the batch is counted."""

    member_id: str
    asset: str
    amount: int
    reason: str  # the transfer's reason code and the lot's source: points, challenge
    key: str  # its idempotency key
    metadata: dict[str, Any]


def _activities(conn: Connection, community_id: str, rows: Sequence[Any]) -> Iterable[Activity]:
    """What each transfer means for gamification, in transfer order."""
    wanted = [r for r in rows if r[2] != POINTS_ASSET and r[5] not in _NEVER_COUNTED]
    if not wanted:
        return
    legs: dict[str, list[tuple[str, int]]] = defaultdict(list)
    ids = [r[0] for r in wanted if r[1] in (*_CHARGE_KINDS, TransferKind.transfer.value)]
    for chunk in range(0, len(ids), 500):
        for tid, member, amount in conn.execute(
                sa.select(_P.transfer_id, _A.member_id, _P.amount).join(
                    accounts, sa.and_(_A.community_id == _P.community_id,
                                      _A.account_id == _P.account_id)).where(
                    _P.community_id == community_id, _P.transfer_id.in_(ids[chunk:chunk + 500]),
                    _A.member_id.is_not(None))):
            legs[tid].append((member, int(amount)))
    for tid, kind, asset, member, service, reason, at_us, _actor in wanted:
        if kind in _CHARGE_KINDS and member is not None:
            paid = -sum(a for who, a in legs[tid] if who == member)
            if paid > 0:
                yield Activity(asset=asset, transfer_id=tid, member_id=member,
                               kind=ActivityKind.charge, at_us=at_us, code=service, credits=paid)
            for who, amount in legs[tid]:
                if who != member and amount > 0:
                    yield Activity(asset=asset, transfer_id=tid, member_id=who,
                                   kind=ActivityKind.royalty, at_us=at_us, code=service,
                                   credits=amount)
        elif kind == TransferKind.grant.value and reason == "reward" and member is not None:
            yield Activity(asset=asset, transfer_id=tid, member_id=member, kind=ActivityKind.reward,
                           at_us=at_us, code=service)
        elif kind == TransferKind.payment.value and reason == "purchase" and member is not None:
            yield Activity(asset="CREDIT", transfer_id=tid, member_id=member,
                           kind=ActivityKind.purchase, at_us=at_us)
        elif kind == TransferKind.transfer.value:
            for who, amount in legs[tid]:
                if who != member and amount > 0:
                    yield Activity(asset=asset, transfer_id=tid, member_id=who,
                                   kind=ActivityKind.transfer_received, at_us=at_us,
                                   credits=amount)


def _load_progress(conn: Connection, community_id: str, members: list[str],
                   rules: Achievements, activities: list[Activity],
                   ) -> dict[str, MemberProgress]:
    progress = {m: MemberProgress() for m in members}
    k, w, a = achievement_counters.c, challenge_windows.c, achievement_awards.c
    for member, counter, value in conn.execute(sa.select(k.member_id, k.counter, k.value).where(
            k.community_id == community_id, k.member_id.in_(members))):
        progress[member].counters[counter] = int(value)
    windows = sorted({window_key(ch.period, from_us(act.at_us))
                      for ch in rules.challenges.values() for act in activities})
    challenge_keys: list[str] = []
    if windows:
        for member, challenge, window, count in conn.execute(
                sa.select(w.member_id, w.challenge, w.window, w.progress).where(
                    w.community_id == community_id, w.member_id.in_(members),
                    w.window.in_(windows))):
            progress[member].windows[(challenge, window)] = int(count)
        challenge_keys = [f"challenge:{code}:{win}" for code in rules.challenges
                          for win in windows]
    held = sa.or_(a.kind.in_(("badge", "level")), a.award_key.in_(challenge_keys)) \
        if challenge_keys else a.kind.in_(("badge", "level"))
    for member, key in conn.execute(sa.select(a.member_id, a.award_key).where(
            a.community_id == community_id, a.member_id.in_(members), held)):
        progress[member].held.add(key)
    return progress


def _write_progress(conn: Connection, community_id: str, progress: dict[str, MemberProgress],
                    now_us: int) -> None:
    dialect = conn.dialect.name
    counters = [{"community_id": community_id, "member_id": m, "counter": name,
                 "value": p.counters[name]}
                for m, p in sorted(progress.items()) for name in sorted(p.changed_counters)]
    if counters:
        conn.execute(upsert(dialect, achievement_counters,
                            ["community_id", "member_id", "counter"], replace=("value",)),
                     counters)
    windows = [{"community_id": community_id, "member_id": m, "challenge": code,
                "window": window, "progress": p.windows[(code, window)], "updated_at_us": now_us}
               for m, p in sorted(progress.items())
               for code, window in sorted(p.changed_windows)]
    if windows:
        conn.execute(upsert(dialect, challenge_windows,
                            ["community_id", "member_id", "challenge", "window"],
                            replace=("progress", "updated_at_us")), windows)


def _award_row(community_id: str, activity: Activity, award: Award) -> dict[str, Any]:
    return {"community_id": community_id, "member_id": activity.member_id,
            "award_key": award.key, "kind": award.kind, "code": award.code,
            "name": award.name[:200], "credits": award.credits, "points": award.points,
            "source_transfer_id": activity.transfer_id, "awarded_at_us": activity.at_us}
