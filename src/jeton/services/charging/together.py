"""Charges of one community made together, in one write (decisions 0120 and 0121).

The HTTP server on PostgreSQL runs the charges waiting for its writer in one transaction
(decision 0119), but each charge there still made its own two round trips: its reads (its key,
its wallets and their lots, the member's snapshot, the hooks' reads), then its rows. Here a
group of charges is planned together: one round trip reads everything all of them read
(`WorkSet.preload_batch`, as a batch of spends does, decision 0118), each charge builds its
transfer on the one working set in turn (so a member charged twice sees their first charge),
the hooks run once over all the transfers, and one round trip writes every row.

On SQLite (decision 0121) there is no round trip to save, but the writer thread's batch
(decision 0117) made each charge a write of its own: a savepoint, a working set, a key lookup,
the hooks, a flush. Made together, the group has one of each; each charge reads its rows where
it asks for them, from the writer's cache as a charge alone does.

The group answers only the charges it made as `Charging.charge` would have made them; any other
it leaves to be made alone (`None`): one whose request is refused or that needs what a write of
its own gives (a funding source, a replay or a key already used, a key twice among them). A
charge that fails while the group builds (a decline, a frozen wallet, a limit) leaves the group
with nothing written: the group is built again without it (its decline then made alone, with
its event and its fixes), at most `REBUILDS_MAX` times. A failure the group cannot name (one
of the database's) leaves every charge of it to be made alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jeton.core.errors import JetonError
from jeton.services.ledger import idempotency
from jeton.services.ledger.state import PreRead
from jeton.services.ledger.workset import WorkSet

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from jeton.services.charging.funding_sources import FundingSource
    from jeton.services.charging.offers import Evaluation
    from jeton.services.charging.results import ChargeReceipt
    from jeton.services.charging.service import Charging

REBUILDS_MAX = 2  # charges a group may leave out, one build each, before it gives up


@dataclass(slots=True, eq=False)
class PlannedCharge:
    """A checked charge request and what its write needs (`Charging.plan_charge`)."""

    community_id: str
    member_id: str
    code: str
    quantity: int
    asset: str
    key: str
    req_hash: str  # the request's hash, kept with its key
    now_us: int
    snap_read: PreRead
    body: Callable[[WorkSet], ChargeReceipt]  # the transfer, built on a working set
    touched: list[str]  # the wallets and accounts it may write
    parties: list[str]  # the wallets it only credits (royalties)
    paid: list[tuple[FundingSource, str]]  # what the sources paid, refunded if it fails
    seen: list[Evaluation]  # the evaluation its body made, for a decline's fixes


@dataclass(frozen=True, slots=True)
class ChargeAsk:
    """The arguments of `Charging.charge` but the community."""

    member_id: str
    service: str
    quantity: int
    idempotency_key: str
    context: Mapping[str, str] | None = None
    session_id: str | None = None
    asset: str = "CREDIT"
    actor: str = "system"
    memo: str = ""


class _Left(Exception):
    """The charge at `index` failed while the group was built: nothing of the group is kept."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def charge_together(charging: Charging, community_id: str, asks: Sequence[ChargeAsk],
                    ) -> list[tuple[ChargeReceipt, str] | None]:
    """Make the charges of `asks` in one write of the running transaction (the module
    docstring): for each, its receipt and the JSON kept under its key, or None where it is
    to be made alone."""
    if len(asks) < 2:
        return [None] * len(asks)
    with charging.ledger.clocks.scope(community_id):  # a test clock's time, as `Community`'s
        return _together(charging, community_id, asks)


def _together(charging: Charging, community_id: str, asks: Sequence[ChargeAsk],
              ) -> list[tuple[ChargeReceipt, str] | None]:
    answers: list[tuple[ChargeReceipt, str] | None] = [None] * len(asks)
    if charging.funding_sources.for_community(community_id):  # paid outside the database
        return answers
    now_us = charging.ledger.now_us()
    plans: dict[int, PlannedCharge] = {}
    keys: dict[str, int] = {}
    for i, ask in enumerate(asks):
        try:
            plan = charging.plan_charge(
                community_id, ask.member_id, ask.service, ask.quantity,
                idempotency_key=ask.idempotency_key, context=ask.context,
                session_id=ask.session_id, asset=ask.asset, actor=ask.actor, memo=ask.memo,
                now_us=now_us)
        except (JetonError, ValueError):  # refused: made alone, it says why
            continue
        if plan.key in keys:  # the second waits for the first's answer: both alone
            plans.pop(keys[plan.key], None)
            continue
        keys[plan.key] = i
        plans[i] = plan
    for _build in range(REBUILDS_MAX + 1):
        if len(plans) < 2:
            break
        try:
            made = charging.store.run_write(lambda conn: _write(charging, conn, plans))
        except _Left as left:
            del plans[left.index]
            continue
        except Exception:  # the database's: every charge made alone tells its own
            break
        for i, answer in made.items():
            answers[i] = answer
        break
    return answers


def _write(charging: Charging, conn: Connection, plans: dict[int, PlannedCharge],
           ) -> dict[int, tuple[ChargeReceipt, str]]:
    """One transaction (or savepoint) for the charges of `plans` that are no replays."""
    first = next(iter(plans.values()))
    community_id = first.community_id
    charging.require_community(conn, community_id)
    ws = WorkSet(conn, charging.store.dialect, community_id, first.now_us)
    keys = [p.key for p in plans.values()]
    postgres = ws.dialect == "postgresql"
    if postgres:
        stored, snapshots = _preloaded(charging, ws, plans, keys)
    else:  # SQLite: each row read where a charge asks for it (from the writer's cache)
        stored, snapshots = idempotency.lookup_many(conn, community_id, keys), {}
    made: dict[int, tuple[ChargeReceipt, str]] = {}
    for i, plan in plans.items():
        if plan.key in stored:  # a replay, or a key used for another request: made alone
            continue
        if postgres:  # a member's snapshot, read once, for each of their charges
            ws.prefetched[plan.snap_read.name] = snapshots[plan.snap_read.name]
        try:
            result = plan.body(ws)
        except Exception as exc:
            raise _Left(i) from exc
        answer = result.model_dump_json()
        ws.remember_key(plan.key, "charge", plan.req_hash, answer)
        made[i] = (result, answer)
    if not made:
        return made
    try:
        charging.ledger.run_hooks(ws)
    except JetonError as exc:  # a hook refused one of them (a limit, a freeze): not which
        raise _Left(_refused_by(exc, plans, made)) from exc
    ws.flush(commit=postgres)
    return made


def _preloaded(charging: Charging, ws: WorkSet, plans: dict[int, PlannedCharge],
               keys: list[str]) -> tuple[dict[str, idempotency.Stored], dict[str, Any]]:
    """PostgreSQL's first round trip for the group: its keys' stored answers, and each
    member's snapshot by its read's name (taken out of `ws.prefetched`, as `read_ahead`
    pops what it reads)."""
    community_id = ws.community_id
    snapshot_reads = list({p.snap_read.name: p.snap_read for p in plans.values()}.values())
    hook_reads = charging.ledger.hook_reads(
        community_id, [(p.member_id, p.asset) for p in plans.values()], "charge")
    stored = idempotency.stored_by_key(ws.preload_batch(
        [a for plan in plans.values() for a in plan.touched],
        idempotency.lookup_reads(community_id, keys, "postgresql"), [*snapshot_reads, *hook_reads]))
    return stored, {read.name: ws.prefetched.pop(read.name, None) for read in snapshot_reads}


def _refused_by(exc: JetonError, plans: dict[int, PlannedCharge], made: dict[int, Any]) -> int:
    """The charge a hook's refusal names (its member), else the last one made."""
    member = exc.extra.get("member")
    return next((i for i in reversed(made) if plans[i].member_id == member), list(made)[-1])
