"""A plain spend on PostgreSQL as one call of the SQL function `jeton_spend` (decision 0078).

A spend of one wallet to `revenue` (no splits, no `to_account`) is one statement: the
function locks the wallet, answers a replay, checks what the ledger's hooks would read, draws
the lots in spend order and writes the rows `WorkSet.pay` would (store/functions.py). On Citus
the call is one command to the community's worker; on PostgreSQL one round trip instead of two.

The function answers `fallback`, having written nothing, when the Python write must do the
spend: a hook could act (a freeze, a limit, auto-recharge, an event, a suspended credit line),
the wallet or revenue is missing, or expired holds could be released to pay. The Python side
calls it only while every hook on the ledger is one whose conditions it checks (`KNOWN_HOOKS`):
a host app's own hook sends every spend down the Python path.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core.errors import IdempotencyConflict
from jeton.core.ids import new_id
from jeton.core.transfers import metadata_json
from jeton.services.ledger import idempotency
from jeton.services.ledger.metrics import sql_spends_total
from jeton.services.ledger.results import TransferResult
from jeton.services.ledger.state import Header, too_few_credits, wallet_id
from jeton.store import citus, pipeline
from jeton.store.engine import Store
from jeton.store.fastsql import Runner
from jeton.store.tables.ledger import accounts
from jeton.store.transactions import end_in_batch

# The hooks whose every effect on a plain spend `jeton_spend` checks for, by qualified name
# (the ledger does not import the services that install them). A hook not named here, or
# renamed, makes every spend take the Python path; tests/ledger/test_sql_spend.py holds this
# set to the hooks a Jeton installs.
KNOWN_HOOKS = frozenset({
    "jeton.services.charging.protection.protection_hook",  # freezes, velocity, key budgets
    "jeton.services.charging.metered.Metering._hook",  # captures only
    "jeton.services.events.outbox.Events.hook",  # charge.succeeded, depleted, alerts
    "jeton.services.funding.recharge.recharge_hook",  # auto-recharge under its threshold
    "jeton.services.funding.member_transfers.transfer_limits_hook",  # transfers only
    "jeton.services.funding.bill_payments.credit_line_hook",  # a suspended credit line
})

CALL = ("SELECT jeton_spend(%(c)s, %(m)s, %(a)s, %(n)s, %(s)s, %(actor)s, %(r)s, %(memo)s, "
        "%(meta)s, %(k)s, %(h)s, %(t)s, %(o)s, %(now)s)")

# Whether plain PostgreSQL (not Citus) spends through the function by default: yes since
# decision 0095 (less CPU per spend on both sides, and more spends a second with 16 writers;
# decision 0078 had measured the other way before either path was made lean). Citus always
# does: one hop to the worker, not 14.
POSTGRES_DEFAULT = True

# Reasons to fall back that hold for every spend of a community in an asset (its settings, not
# the member's wallet): after one, the ledger sends the community's plain spends of that asset
# straight to the Python write for `FALLBACK_MEMORY_S` seconds, sparing each a call that would
# write nothing.
# The Python write is the whole write, so a setting changed meanwhile is never missed; only
# the path is chosen by what was seen (decision 0095).
COMMUNITY_REASONS = frozenset({"velocity_limits", "charge_succeeded", "revenue"})
FALLBACK_MEMORY_S = 10.0

_citus: weakref.WeakKeyDictionary[Store, bool] = weakref.WeakKeyDictionary()
_hooks_seen: weakref.WeakKeyDictionary[object, tuple[tuple[object, ...], bool]] = (
    weakref.WeakKeyDictionary())


def hook_name(hook: Callable[..., object]) -> str:
    fn: Any = getattr(hook, "__func__", hook)  # a bound method names its function
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"


def hooks_known(ledger: object, hooks: Sequence[Callable[..., object]]) -> bool:
    """Every hook is one whose conditions `jeton_spend` checks (remembered per hook list)."""
    now = tuple(hooks)
    seen = _hooks_seen.get(ledger)
    if seen is None or seen[0] != now:
        seen = (now, all(hook_name(h) in KNOWN_HOOKS for h in now))
        _hooks_seen[ledger] = seen
    return seen[1]


def is_citus(store: Store) -> bool:
    found = _citus.get(store)
    if found is None:
        with store.read() as conn:
            found = _citus[store] = citus.is_citus(conn)
    return found


def enabled(store: Store, hooks: Sequence[Callable[..., object]], ledger: object,
            choice: bool | None) -> bool:
    """Whether this ledger's plain spends go through `jeton_spend`: on PostgreSQL, the hooks
    all known, and `choice` (the ledger's `spend_in_sql`) not off; None is the default, always
    on Citus, `POSTGRES_DEFAULT` on PostgreSQL."""
    if store.dialect != "postgresql" or choice is False or not hooks_known(ledger, hooks):
        return False
    return True if choice else (POSTGRES_DEFAULT or is_citus(store))


Fallbacks = dict[tuple[str, str], float]  # (community, asset) -> until, by time.monotonic()


def _floor(store: Store, community_id: str, header: Header) -> int | None:
    """The floor of the spending member's wallet (a credit line's), for a decline's figures."""
    stmt = sa.select(accounts.c.floor).where(
        accounts.c.community_id == community_id,
        accounts.c.account_id == wallet_id(header.member_id or "", header.asset))
    with store.read() as conn:
        floor: int | None = conn.execute(stmt).scalar()
    return floor


def left_to_python(fallbacks: Fallbacks, community_id: str, asset: str) -> bool:
    """Whether a fallback of `COMMUNITY_REASONS` for this community and asset was seen lately."""
    until = fallbacks.get((community_id, asset))
    if until is None:
        return False
    if time.monotonic() < until:
        return True
    fallbacks.pop((community_id, asset), None)
    return False


def spend(store: Store, community_id: str, header: Header, amount: int, req_hash: str,
          now_us: int, fallbacks: Fallbacks) -> TransferResult | None:
    """The spend as one call: its answer, a replay's, or the error the Python path raises for a
    decline or a conflicting key; None when the Python path must do it (nothing was written).
    A fallback for a reason of the whole community is noted in `fallbacks` (the ledger's),
    by community and asset."""
    key = header.idempotency_key or ""
    params = {"c": community_id, "m": header.member_id, "a": header.asset, "n": amount,
              "s": header.service, "actor": header.actor, "r": header.reason_code,
              "memo": header.memo, "meta": metadata_json(header.metadata),  # as `_seal` writes it
              "k": key, "h": req_hash,
              "t": new_id(), "o": new_id(), "now": now_us}

    def tx(conn: Connection) -> dict[str, Any]:
        # Alone in its pipeline, without BEGIN: an implicit transaction the Sync commits, one
        # round trip; Citus delegates such a call to the worker (never inside BEGIN). In a
        # batch of writes, with its savepoint's end (store/transactions.py).
        rows = pipeline.run(conn.connection.driver_connection,  # type: ignore[arg-type]
                            [(CALL, [params]), *end_in_batch(conn)])
        answer: dict[str, Any] = rows[0][0][0]
        return answer

    try:
        answer = store.run_write(tx)
    except Exception as exc:  # two spends racing with one key: again, to find the answer
        if not idempotency.is_key_race(exc):
            raise
        answer = store.run_write(tx)
    outcome = answer["outcome"]
    reason = answer.get("reason", "")
    sql_spends_total.labels(outcome=outcome, reason=reason).inc()
    if reason in COMMUNITY_REASONS:
        fallbacks[(community_id, header.asset)] = time.monotonic() + FALLBACK_MEMORY_S
    if outcome == "ok":
        return TransferResult.model_validate(answer["result"])
    if outcome == "replay":
        return TransferResult.model_validate(answer["result"]).model_copy(
            update={"replayed": True})
    if outcome == "insufficient_credits":  # the floor read apart: a decline is off the hot path
        raise too_few_credits(header.member_id, header.asset, answer["balance"],
                              answer["required"], _floor(store, community_id, header)).error()
    if outcome == "idempotency_conflict":  # which kind the key's first use was, read apart
        with store.read() as conn:
            first = Runner(conn, "postgresql").first(*idempotency.key_read(community_id, key))
        raise IdempotencyConflict(idempotency.conflict_detail(
            key, first[0] if first is not None else None, "spend"), key=key)
    return None  # fallback
