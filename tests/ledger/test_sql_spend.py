"""A plain spend through `jeton_spend` (one SQL call, decision 0078) does what the Python write
does: the same rows, the same answers, the same declines, and `jeton verify` holds.

Hypothesis plays one random sequence of grants (scoped, with priorities, expiring, paid and
free), credit lines, clock moves, spends, replays and reused keys on two communities of one
store: one spends through the Python write, the other through the function. Ids aside (they
are mapped by order of creation) every row of the journal, the lots, the accounts and the keys
is the same, field by field, and so is every answer. Then each condition under which the
function leaves the spend to Python (a hook that would act, holds past their expiry) is shown
to fall back, with the Python path's effect. On PostgreSQL, and on Citus with
JETON_TEST_CITUS_URL, where the call runs on the community's worker.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jeton
from conftest import SERVERS, check_invariants, drop_pg_store, make_pg_store
from jeton.config import Settings
from jeton.core.clock import ManualClock
from jeton.payments.offline import DEMO_METHOD_OK
from jeton.services.access.api_keys import ApiKeys
from jeton.services.ledger import sqlspend
from jeton.services.ledger.metrics import PROCESS_REGISTRY
from jeton.services.ledger.results import TransferResult
from jeton.services.ops.verify import verify
from jeton.store.engine import Store
from jeton.store.tables.ledger import (
    events,
)
from ledger_rows import id_labels, labelled, ledger_rows

MEMBERS = ("ann", "bob")
SCOPES = [None, "video.minute", "video.*", "files.download"]
SERVICES = [None, "video.minute", "video.call", "files.download", "chat.message"]
Outcome = tuple[Any, ...]


@pytest.fixture(scope="module", params=SERVERS)
def server(request: pytest.FixtureRequest) -> Iterator[Store]:
    store = make_pg_store(citus=request.param == "citus")
    yield store
    drop_pg_store(store)


@pytest.fixture
def app(server: Store, clock: ManualClock) -> Iterator[jeton.Jeton]:
    j = jeton.Jeton(server, clock=clock, settings=Settings(webhooks_allow_private=True))
    yield j
    j.payments.close()


_names = itertools.count()


def _community(j: jeton.Jeton, name: str) -> jeton.Community:
    c = j.create_community(name, f"{name}-{next(_names)}")
    for m in MEMBERS:
        c.create_member(m)
    return c


def _count(outcome: str, reason: str = "") -> float:
    found = PROCESS_REGISTRY.get_sample_value(
        "jeton_sql_spends_total", {"outcome": outcome, "reason": reason})
    return found or 0.0


# ---- the differential test ----

grant_ops = st.tuples(
    st.just("grant"), st.sampled_from(MEMBERS), st.integers(1, 40), st.booleans(),
    st.integers(-2, 2), st.sampled_from(SCOPES), st.one_of(st.none(), st.integers(1, 7200)))
spend_ops = st.tuples(
    st.just("spend"), st.sampled_from(MEMBERS), st.integers(1, 20), st.sampled_from(SERVICES),
    st.sampled_from(["", "café ☕", "x" * 40]), st.sampled_from([None, {"n": 1, "é": [True]}]))
# Grants first (most spends then have lots to draw), then spends mostly, among the rest.
scenarios = st.tuples(st.lists(grant_ops, min_size=1, max_size=6), st.lists(st.one_of(
    spend_ops, spend_ops, spend_ops, grant_ops,
    st.tuples(st.just("advance"), st.integers(1, 3600)),
    st.tuples(st.just("credit_line"), st.sampled_from(MEMBERS), st.integers(-40, 0)),
    st.tuples(st.just("replay"), st.integers(0, 10**6)),
    st.tuples(st.just("reuse_key"), st.integers(0, 10**6)),
), min_size=1, max_size=30)).map(lambda s: s[0] + s[1])

def _play(c: jeton.Community, clock: ManualClock, sql: bool, op: tuple[Any, ...],
          spent: list[tuple[int, tuple[Any, ...]]], n: int) -> Outcome | None:
    """One step on `c`; the answer or the error of a spend or a grant."""
    c.jeton.ledger.spend_in_sql = sql
    kind = op[0]
    try:
        if kind == "grant":
            _, member, amount, paid, priority, scope, expires_in = op
            expires = None if expires_in is None else clock.now() + timedelta(seconds=expires_in)
            res = c.grant(member, amount, idempotency_key=f"g{n}", paid=paid,
                          cost_minor=amount * 10 if paid else 0, priority=priority,
                          scope=scope, expires_at=expires)
        elif kind == "spend":
            _, member, amount, service, memo, metadata = op
            res = c.spend(member, amount, idempotency_key=f"s{n}", service=service, memo=memo,
                          metadata=metadata)
        elif kind == "credit_line":  # refused when the member owes more than the new line
            return ("ok", c.set_credit_line(op[1], op[2]).model_dump(mode="json"))
        elif kind in ("replay", "reuse_key") and spent:
            i, (_, member, amount, service, memo, metadata) = spent[op[1] % len(spent)]
            if kind == "reuse_key":
                amount += 1  # another request under the key
            res = c.spend(member, amount, idempotency_key=f"s{i}", service=service, memo=memo,
                          metadata=metadata)
        else:
            return None
    except jeton.JetonError as exc:
        return (type(exc).__name__, exc.status.value, exc.detail, exc.extra)
    return ("ok", res.model_dump(mode="json"))


def _answer_parsed(table: str, d: dict[str, Any]) -> dict[str, Any]:
    """A key's stored answer, parsed as the `TransferResult` a replay returns."""
    if table == "idempotency_keys":
        d["response_json"] = TransferResult.model_validate_json(
            d["response_json"]).model_dump(mode="json")
    return d


def _rows(store: Store, cid: str) -> dict[str, list[Any]]:
    return ledger_rows(store, cid, _answer_parsed)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=scenarios)
def test_spends_through_the_function_write_what_the_python_write_writes(
        app: jeton.Jeton, server: Store, clock: ManualClock,
        steps: list[tuple[Any, ...]]) -> None:
    py, sql = _community(app, "py"), _community(app, "sql")
    spent: list[tuple[int, tuple[Any, ...]]] = []
    answers: dict[str, list[Outcome | None]] = {"py": [], "sql": []}
    for n, op in enumerate(steps):
        if op[0] == "advance":
            clock.advance(timedelta(seconds=op[1]))
            continue
        answers["py"].append(_play(py, clock, False, op, spent, n))
        answers["sql"].append(_play(sql, clock, True, op, spent, n))
        if op[0] == "spend":
            spent.append((n, op))
    lp, ls = id_labels(server, py.id), id_labels(server, sql.id)
    assert labelled(answers["sql"], ls) == labelled(answers["py"], lp)
    assert _rows(server, sql.id) == _rows(server, py.id)
    for c in (py, sql):
        assert verify(server, community_id=c.id) == []


def test_a_credit_line_opens_its_overdraft_lot_and_a_decline_says_what_python_says(
        app: jeton.Jeton, server: Store, clock: ManualClock) -> None:
    """The shapes the random test meets by chance, once each for certain: a spend past the
    lots onto a new credit line lot, then onto the same lot, then one past the line."""
    outcomes = {}
    answered = (_count("ok"), _count("insufficient_credits"))
    for sql in (False, True):
        c = _community(app, "line")
        c.jeton.ledger.spend_in_sql = sql
        c.grant("ann", 5, idempotency_key="g", scope="video.*")
        c.grant("ann", 3, idempotency_key="g2", expires_at=clock.now() + timedelta(hours=1))
        c.set_credit_line("ann", -10)
        a = c.spend("ann", 9, idempotency_key="s1", service="video.call")
        b = c.spend("ann", 4, idempotency_key="s2")
        with pytest.raises(jeton.InsufficientCredits) as declined:
            c.spend("ann", 6, idempotency_key="s3")  # the line lends 5 more, not 6
        labels = id_labels(server, c.id)
        outcomes[sql] = (labelled(a.model_dump(mode="json"), labels),
                         labelled(b.model_dump(mode="json"), labels), declined.value.detail,
                         declined.value.extra, _rows(server, c.id))
        assert [m.amount for m in a.lots] == [-5, -3, -1]  # scoped, expiring, the line
        assert (a.balance_after, b.balance_after) == (-1, -5)
        check_invariants(server)
    assert outcomes[True] == outcomes[False]
    assert (_count("ok"), _count("insufficient_credits")) == (answered[0] + 2, answered[1] + 1)


# ---- replays ----

def test_a_replay_answers_the_first_answer_and_another_request_under_the_key_conflicts(
        app: jeton.Jeton) -> None:
    c = _community(app, "replay")
    c.grant("ann", 20, idempotency_key="g")
    ledger = c.jeton.ledger
    ledger.spend_in_sql = True
    first = c.spend("ann", 3, idempotency_key="k", service="chat.message")
    again = c.spend("ann", 3, idempotency_key="k", service="chat.message")
    assert again.replayed
    assert not first.replayed
    assert again.model_copy(update={"replayed": False}) == first
    ledger.spend_in_sql = False  # the Python write reads the answer the function stored
    assert c.spend("ann", 3, idempotency_key="k", service="chat.message") == again
    by_python = c.spend("ann", 2, idempotency_key="p")
    ledger.spend_in_sql = True  # and the function reads the Python write's
    assert c.spend("ann", 2, idempotency_key="p").model_copy(
        update={"replayed": False}) == by_python
    for key, amount in (("k", 4), ("p", 3), ("g", 1)):
        with pytest.raises(jeton.IdempotencyConflict) as conflict:
            c.spend("ann", amount, idempotency_key=key)
        assert conflict.value.extra == {"key": key}
    assert c.balance("ann").posted == 15


def test_a_spend_racing_another_with_its_key_finds_the_first_answer(
        app: jeton.Jeton, server: Store) -> None:
    """Two members, one key, at once: the second meets the key's unique index (the wallets'
    locks do not order them), and is asked again, which answers the conflict."""
    import threading

    c = _community(app, "race")
    for m in MEMBERS:
        c.grant(m, 10, idempotency_key=f"g-{m}")
    c.jeton.ledger.spend_in_sql = True
    outcomes: list[str] = []
    go = threading.Barrier(2)

    def spend(member: str) -> None:
        go.wait()
        try:
            c.spend(member, 1, idempotency_key="same")
            outcomes.append("ok")
        except jeton.IdempotencyConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=spend, args=(m,)) for m in MEMBERS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    assert c.balance("ann").posted + c.balance("bob").posted == 19
    check_invariants(server)


# ---- what the function leaves to the Python write ----

def _falls_back(c: jeton.Community, reason: str, write: Callable[[], Any]) -> Any:
    """Run `write` (a spend) with the function on; it must fall back for `reason`. The
    ledger's memory of the community's fallbacks is cleared first, so the function is asked."""
    c.jeton.ledger.spend_in_sql = True
    c.jeton.ledger.sql_fallbacks.clear()
    before = _count("fallback", reason)
    try:
        return write()
    finally:
        assert _count("fallback", reason) == before + 1, reason


def _events(store: Store, cid: str, type_: str) -> list[dict[str, Any]]:
    with store.read() as conn:
        return [json.loads(p) for p in conn.execute(sa.select(events.c.payload_json).where(
            events.c.community_id == cid, events.c.type == type_)).scalars()]


def test_a_frozen_wallet_is_declined_as_before(app: jeton.Jeton) -> None:
    c = _community(app, "frozen")
    c.grant("ann", 10, idempotency_key="g")
    c.freeze_wallet("ann", reason="chargeback", actor="staff:1")
    with pytest.raises(jeton.WalletFrozen):
        _falls_back(c, "wallet_frozen", lambda: c.spend("ann", 1, idempotency_key="s"))
    assert c.balance("ann").posted == 10


def test_a_velocity_limit_still_counts_and_declines(app: jeton.Jeton) -> None:
    c = _community(app, "velocity")
    c.grant("ann", 10, idempotency_key="g")
    c.set_velocity_limit(per_hour=3)
    _falls_back(c, "velocity_limits", lambda: c.spend("ann", 3, idempotency_key="s1"))
    with pytest.raises(jeton.VelocityLimitExceeded):
        _falls_back(c, "velocity_limits", lambda: c.spend("ann", 1, idempotency_key="s2"))


def test_a_key_budget_still_holds_spends_made_with_the_key(app: jeton.Jeton) -> None:
    c = _community(app, "budget")
    c.grant("ann", 10, idempotency_key="g")
    key = ApiKeys(app.store, app.clock).create(c.id, name="agent", scopes=["charges:write"],
                                               created_by="owner").id
    c.set_key_budget(key, period="day", per_key=2)
    with pytest.raises(jeton.KeyBudgetExceeded):
        _falls_back(c, "key_budgets", lambda: c.spend(
            "ann", 3, idempotency_key="s", actor=f"api_key:{key}/agent-1"))
    # A spend by anyone else is the function's: budgets count only their key's spends.
    c.jeton.ledger.spend_in_sql = True
    ok = _count("ok")
    c.spend("ann", 3, idempotency_key="s2")
    assert _count("ok") == ok + 1


def test_auto_recharge_still_fires_under_its_threshold(app: jeton.Jeton, server: Store) -> None:
    from jeton.store.tables.funding import recharge_claims

    c = _community(app, "recharge")
    c.create_pack("20 credits", pack_id="p20", credits=20, price_minor=6000)
    c.set_payment_method("ann", provider="demo", customer_id="cus_ann",
                         payment_method_id=DEMO_METHOD_OK)
    c.set_auto_recharge("ann", pack_id="p20", threshold=5, monthly_cap=2)
    c.grant("ann", 20, idempotency_key="g")
    c.jeton.ledger.spend_in_sql = True
    ok = _count("ok")
    c.spend("ann", 10, idempotency_key="above")  # 10 left: the hook would do nothing
    assert _count("ok") == ok + 1
    _falls_back(c, "auto_recharge", lambda: c.spend("ann", 6, idempotency_key="under"))
    with server.read() as conn:
        claims = conn.execute(sa.select(recharge_claims.c.member_id).where(
            recharge_claims.c.community_id == c.id)).scalars().all()
    assert claims == ["ann"]


def test_a_charge_succeeded_subscription_still_gets_its_event(
        app: jeton.Jeton, server: Store) -> None:
    c = _community(app, "hooked")
    c.grant("ann", 10, idempotency_key="g")
    c.create_webhook_endpoint("http://127.0.0.1:9/hooks", event_types=["charge.succeeded"])
    res = _falls_back(c, "charge_succeeded", lambda: c.spend("ann", 2, idempotency_key="s"))
    assert [e["transfer_id"] for e in _events(server, c.id, "charge.succeeded")] == [res.id]


def test_a_balance_reaching_zero_and_crossing_an_alert_still_send_their_events(
        app: jeton.Jeton, server: Store) -> None:
    c = _community(app, "alerts")
    c.grant("ann", 10, idempotency_key="g")
    c.set_low_balance_threshold("ann", 5)
    c.jeton.ledger.spend_in_sql = True
    ok = _count("ok")
    c.spend("ann", 2, idempotency_key="s1")  # 8: above the threshold, armed: nothing to do
    assert _count("ok") == ok + 1
    _falls_back(c, "balance_alert", lambda: c.spend("ann", 4, idempotency_key="s2"))
    assert [e["available"] for e in _events(server, c.id, "balance.low")] == [4]
    c.spend("ann", 1, idempotency_key="s3")  # 3: below and disarmed: nothing to do
    assert _count("ok") == ok + 2
    _falls_back(c, "balance_depleted", lambda: c.spend("ann", 3, idempotency_key="s4"))
    assert [e["available"] for e in _events(server, c.id, "balance.depleted")] == [0]


def test_a_suspended_credit_line_is_still_refused(app: jeton.Jeton) -> None:
    c = _community(app, "bills")
    c.set_credit_line("ann", -50)
    c.set_billing_settings(credit_price_minor=10, grace_days=0)
    c.spend("ann", 4, idempotency_key="s1", service="chat.message")
    c.issue_bill("ann", idempotency_key="bill-1")  # past due at once: no grace
    with pytest.raises(jeton.CreditLineSuspended):
        _falls_back(c, "credit_line_suspended", lambda: c.spend("ann", 1, idempotency_key="s2"))
    c.grant("ann", 10, idempotency_key="g")  # the member's own credits still pay
    c.jeton.ledger.spend_in_sql = True
    assert c.spend("ann", 3, idempotency_key="s3").balance_after == 3


def test_holds_past_their_expiry_are_released_to_pay(app: jeton.Jeton,
                                                    clock: ManualClock) -> None:
    c = _community(app, "holds")
    c.grant("ann", 10, idempotency_key="g")
    c.hold("ann", 10, idempotency_key="h", timeout_s=60)  # nothing left to spend
    clock.advance(timedelta(minutes=2))  # the hold is past its timeout; no job has run
    res = _falls_back(c, "expired_holds", lambda: c.spend("ann", 4, idempotency_key="s"))
    assert res.balance_after == 6


def test_a_member_without_a_wallet_is_declined_as_before(app: jeton.Jeton) -> None:
    c = _community(app, "nowallet")
    with pytest.raises(jeton.InsufficientCredits):
        _falls_back(c, "no_wallet", lambda: c.spend("ann", 1, idempotency_key="s"))
    with pytest.raises(jeton.NotFound):
        _falls_back(c, "no_wallet", lambda: c.spend("nobody", 1, idempotency_key="s2"))


def test_a_hook_of_the_host_app_sends_every_spend_to_the_python_write(app: jeton.Jeton) -> None:
    c = _community(app, "host")
    c.grant("ann", 10, idempotency_key="g")
    seen: list[str] = []

    def host_hook(ws: Any, results: list[TransferResult]) -> None:
        seen.extend(r.id for r in results)

    ledger = c.jeton.ledger
    ledger.spend_in_sql = True
    ledger.hooks.append(host_hook)
    try:
        calls = sum(_count(o) for o in ("ok", "replay", "insufficient_credits"))
        res = c.spend("ann", 1, idempotency_key="s")
        assert seen == [res.id]
        assert sum(_count(o) for o in ("ok", "replay", "insufficient_credits")) == calls
    finally:
        ledger.hooks.remove(host_hook)


def test_the_setting_chooses_the_path_and_the_function_is_the_default(
        app: jeton.Jeton, server: Store) -> None:
    assert Settings.from_env({"JETON_SPEND_IN_SQL": "on"}).spend_in_sql is True
    assert Settings.from_env({"JETON_SPEND_IN_SQL": "off"}).spend_in_sql is False
    assert Settings.from_env({}).spend_in_sql is None
    forced = jeton.Jeton(server, settings=Settings(spend_in_sql=False))
    assert forced.ledger.spend_in_sql is False
    ledger = app.ledger
    assert ledger.spend_in_sql is None
    assert sqlspend.enabled(server, ledger.hooks, ledger, None)  # PostgreSQL and Citus
    assert sqlspend.enabled(server, ledger.hooks, ledger, True)
    assert not sqlspend.enabled(server, ledger.hooks, ledger, False)


def test_the_hooks_a_jeton_installs_are_the_ones_the_function_knows(app: jeton.Jeton) -> None:
    assert app.charging.metering is not None  # metering's hook is installed with charging
    names = {sqlspend.hook_name(h) for h in app.ledger.hooks}
    assert names == sqlspend.KNOWN_HOOKS
