"""A batch of spends is the same ledger as the same spends made one at a time.

Two communities of one store get the same members and credits; one receives the spends one
call at a time, the other as one batch. Every answer and every row (transfers, postings, lot
moves, lots, balances, idempotency keys) must agree, ids aside (and empty wallets: a batch
keeps one it opened for an item it then declined), and `jeton verify` must pass.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import jeton
from jeton.core.clock import ManualClock
from jeton.services.ledger import idempotency
from jeton.services.ledger.results import (
    BatchItem,
    LotMoveInfo,
    PostingInfo,
    SpendRequest,
    TransferResult,
    trusted,
)
from jeton.services.ledger.writes import _spend_request_hash
from jeton.store.engine import Store
from ledger_rows import id_labels, labelled, ledger_rows

_ID = frozenset({"id"})  # an answer's own id, by itself: its labelled rows compare instead
Check = Callable[..., None]  # `invariants(store)` or `invariants(store, community_id)`
Outcome = tuple[str, str, dict[str, Any] | None]
MEMBERS = ("alice", "bob", "carol", "dave")


def _community(app: jeton.Jeton, cid: str, clock: ManualClock) -> jeton.Community:
    c = app.create_community(f"Batch {cid}", community_id=cid)
    c.create_account("appstore")
    for member in MEMBERS:
        c.create_member(member)
    c.grant("alice", 10, idempotency_key="g-paid", paid=True, cost_minor=30)
    c.grant("alice", 5, idempotency_key="g-soon", expires_at=clock.now() + timedelta(days=2))
    c.grant("alice", 4, idempotency_key="g-vip", priority=3)
    c.grant("bob", 6, idempotency_key="g-video", scope="video.*")
    c.grant("bob", 2, idempotency_key="g-bob")
    c.set_credit_line("carol", -5)
    c.spend("alice", 1, idempotency_key="old", service="chat.message")
    c.spend("bob", 1, idempotency_key="old-2")
    return c


def _single(c: jeton.Community, item: dict[str, Any]) -> Outcome:
    try:
        req = jeton.SpendRequest.model_validate(item)
    except ValidationError:
        return "value_invalid", "", None
    try:
        res = c.spend(req.member, req.amount, idempotency_key=req.idempotency_key,
                      asset=req.asset, service=req.service, splits=req.splits, memo=req.memo,
                      reason_code=req.reason_code, metadata=req.metadata)
    except jeton.JetonError as exc:
        return exc.status.value, exc.detail, None
    return "ok", "", res.model_dump(mode="json")


def _batch(c: jeton.Community, items: list[dict[str, Any]]) -> list[Outcome]:
    out: list[Outcome] = []
    for r in c.spend_batch(items):
        detail = "" if r.status == "value_invalid" else r.detail
        out.append((r.status, detail, r.result.model_dump(mode="json") if r.result else None))
    return out


def _adjust(table: str, d: dict[str, Any]) -> dict[str, Any] | None:
    if "response_json" in d:
        d["response_json"] = json.loads(d["response_json"])
    if "paid" in d:
        d["paid"] = bool(d["paid"])
    if "tracked" in d:
        d["tracked"] = bool(d["tracked"])
        if d["kind"] == "wallet" and d["version"] == 0:
            # A batch keeps the empty wallet it opened for an item it then declined; the
            # single call rolls it back. Neither holds credits.
            return None
    return d


def _snapshot(store: Store, cid: str) -> dict[str, Any]:
    return ledger_rows(store, cid, _adjust, drop=_ID)


def _outcomes(store: Store, cid: str, outcomes: list[Outcome]) -> list[Any]:
    labels = id_labels(store, cid)
    return [[status, detail, labelled(res, labels, _ID)] for status, detail, res in outcomes]


def _compare(store: Store, app: jeton.Jeton, clock: ManualClock,
             items: list[dict[str, Any]], name: str = "") -> list[Any]:
    one = _community(app, f"{name}one", clock)
    many = _community(app, f"{name}many", clock)
    singles = [_single(one, item) for item in items]
    batch = _batch(many, items)
    assert _outcomes(store, many.id, batch) == _outcomes(store, one.id, singles)
    assert _snapshot(store, many.id) == _snapshot(store, one.id)
    return [status for status, _, _ in batch]


SCENARIO: list[dict[str, Any]] = [
    {"member": "alice", "amount": 3, "idempotency_key": "k1", "service": "chat.message"},
    {"member": "bob", "amount": 2, "idempotency_key": "k2", "service": "video.minute",
     "splits": [{"member": "carol", "amount": 1}]},
    {"member": "dave", "amount": 1, "idempotency_key": "k3"},  # nothing to spend
    {"member": "alice", "amount": 3, "idempotency_key": "k1", "service": "chat.message"},
    {"member": "alice", "amount": 4, "idempotency_key": "k1"},  # the key, another request
    {"member": "alice", "amount": 1, "idempotency_key": "old", "service": "chat.message"},
    {"member": "alice", "amount": 2, "idempotency_key": "old-2"},
    {"member": "alice", "amount": 0, "idempotency_key": "k4"},
    {"member": "carol", "amount": 4, "idempotency_key": "k5", "memo": "a download",
     "reason_code": "download", "metadata": {"file": "f1", "bytes": 3000},
     "splits": [{"account": "appstore", "amount": 1}, {"member": "alice", "amount": 2}]},
    {"member": "zed", "amount": 1, "idempotency_key": "k6"},
    {"member": "bob", "amount": 1, "idempotency_key": "k7", "splits": [{"member": "bob",
                                                                         "amount": 1}]},
    {"member": "carol", "amount": 2, "idempotency_key": "k8", "service": "files.download"},
    {"member": "alice", "amount": 1, "idempotency_key": "k9", "colour": "red"},
    {"member": "alice", "amount": 1, "idempotency_key": "k10",
     "splits": [{"account": "nowhere", "amount": 1}]},
    {"member": "alice", "amount": 1, "idempotency_key": "k11", "asset": "GOLD"},
    {"member": "bob", "amount": 5, "idempotency_key": "k12", "service": "video.minute"},
    {"member": "bob", "amount": 3, "idempotency_key": "k13"},  # bob's unscoped credits are gone
    {"member": "alice", "amount": 12, "idempotency_key": "k14", "service": "chat.message",
     "splits": [{"member": "dave", "amount": 5}, {"member": "bob", "amount": 2}]},
    {"member": "dave", "amount": 5, "idempotency_key": "k15"},  # the royalty just received
    {"member": "carol", "amount": 1, "idempotency_key": "k8", "service": "files.download"},
    {"member": "alice", "amount": 2, "idempotency_key": "k16"},
    {"member": "alice", "amount": 2, "idempotency_key": "k16", "memo": "other"},
]


def test_batch_writes_the_same_rows_and_answers_as_single_spends(
        store: Store, jeton_app: jeton.Jeton, clock: ManualClock, invariants: Check) -> None:
    statuses = _compare(store, jeton_app, clock, SCENARIO)
    assert statuses == [
        "ok", "ok", "insufficient_credits", "ok", "idempotency_conflict", "ok",
        "idempotency_conflict", "amount_invalid", "ok", "member_not_found", "split_invalid",
        "ok", "value_invalid", "account_not_found", "asset_not_found", "ok",
        "insufficient_credits", "ok", "ok", "idempotency_conflict", "ok",
        "idempotency_conflict"]
    invariants(store)


def _fields_in_order(model: Any) -> None:
    """Every field present, in declared order: what serialising and copying expect."""
    assert list(model.__dict__) == list(type(model).model_fields), type(model).__name__
    for value in model.__dict__.values():
        for inner in value if isinstance(value, list) else [value]:
            if hasattr(type(inner), "model_fields"):
                _fields_in_order(inner)


def test_batch_answers_are_whole_models(store: Store, jeton_app: jeton.Jeton,
                                        clock: ManualClock) -> None:
    c = _community(jeton_app, "c", clock)
    items = [{"member": "alice", "amount": 2, "idempotency_key": "w1"},
             {"member": "bob", "amount": 1, "idempotency_key": "w2",
              "splits": [{"member": "carol", "amount": 1}]}]
    answers = [*c.spend_batch(items), *c.spend_batch(items)]
    for answer in answers:
        _fields_in_order(answer)
    single = c.spend("alice", 1, idempotency_key="w3")
    _fields_in_order(single)


def test_batch_replays_its_keys_and_single_spends_replay_batch_keys(
        store: Store, jeton_app: jeton.Jeton, clock: ManualClock) -> None:
    c = _community(jeton_app, "c", clock)
    items = [{"member": "alice", "amount": 1, "idempotency_key": f"r{i}"} for i in range(3)]
    first = c.spend_batch(items)
    again = c.spend_batch(items)
    assert [r.result.replayed for r in again if r.result] == [True] * 3
    assert [r.result.id for r in again if r.result] == [r.result.id for r in first if r.result]
    single = c.spend("alice", 1, idempotency_key="r1")
    assert single.replayed
    assert first[1].result is not None
    assert single.id == first[1].result.id
    assert c.balance("alice").posted == 15


FROZEN_BOB: list[dict[str, Any]] = [
    {"member": "alice", "amount": 2, "idempotency_key": "f1", "service": "chat.message"},
    {"member": "bob", "amount": 1, "idempotency_key": "f2"},
    {"member": "alice", "amount": 3, "idempotency_key": "f3",  # a frozen wallet still receives
     "splits": [{"member": "bob", "amount": 1}]},
    {"member": "bob", "amount": 1, "idempotency_key": "old-2"},  # a replay answers still
    {"member": "bob", "amount": 1, "idempotency_key": "f4", "service": "video.minute"},
    {"member": "carol", "amount": 2, "idempotency_key": "f5"},
]


def test_a_frozen_members_items_are_declined_and_the_others_written(
        store: Store, jeton_app: jeton.Jeton, clock: ManualClock, invariants: Check) -> None:
    one = _community(jeton_app, "fone", clock)
    many = _community(jeton_app, "fmany", clock)
    for c in (one, many):
        c.freeze_wallet("bob", reason="chargeback fraud reported", actor="mod-1")
    singles = [_single(one, item) for item in FROZEN_BOB]
    batch = _batch(many, FROZEN_BOB)
    assert [status for status, _, _ in batch] == [
        "ok", "wallet_frozen", "ok", "ok", "wallet_frozen", "ok"]
    assert "frozen by staff: chargeback fraud reported" in batch[1][1]
    assert _outcomes(store, many.id, batch) == _outcomes(store, one.id, singles)
    assert _snapshot(store, many.id) == _snapshot(store, one.id)
    assert many.balance("bob").posted == 2 - 1 + 6 + 1  # the royalty came in, nothing went out
    invariants(store)


# ---- spends made together: the API's writer (decision 0121) ----

# Of the scenario: two made, a decline, the key again, a replay, a conflict, a spend with
# splits, an unknown member, a split to the payer, a royalty and its spending.
TOGETHER = [SCENARIO[i] for i in (0, 1, 2, 3, 5, 6, 8, 9, 10, 17, 18)]


def test_spends_made_together_are_those_spend_makes_and_leave_the_rest_alone(
        store: Store, jeton_app: jeton.Jeton, clock: ManualClock, invariants: Check) -> None:
    one = _community(jeton_app, "tone", clock)
    many = _community(jeton_app, "tmany", clock)
    requests = [SpendRequest.model_validate(item) for item in TOGETHER]
    made = jeton_app.ledger.spend_together(many.id, requests)
    # Left alone: a decline, a key an earlier item used, a replay, a key used for another
    # request, an unknown member, a split to the payer.
    assert [m is not None for m in made] == [True, True, False, False, False, False, True,
                                             False, False, True, True]
    order = [i for i, m in enumerate(made) if m is not None] + [
        i for i, m in enumerate(made) if m is None]
    singles = {i: _single(one, TOGETHER[i]) for i in order}  # made first, then the rest
    outcomes: dict[int, Outcome] = {}
    for i, found in enumerate(made):
        if found is not None:
            result, answer = found
            assert TransferResult.model_validate_json(answer) == result  # the JSON kept
            outcomes[i] = ("ok", "", result.model_dump(mode="json"))
    for i in order[len(outcomes):]:
        outcomes[i] = _single(many, TOGETHER[i])
    assert _outcomes(store, many.id, [outcomes[i] for i in order]) == _outcomes(
        store, one.id, [singles[i] for i in order])
    assert _snapshot(store, many.id) == _snapshot(store, one.id)
    assert [outcomes[i][0] for i in (2, 3, 4, 5, 7, 8)] == [
        "insufficient_credits", "ok", "ok", "idempotency_conflict", "member_not_found",
        "split_invalid"]
    again = many.spend("alice", 3, idempotency_key="k1", service="chat.message")
    assert again.replayed
    assert again.id == outcomes[0][2]["id"]  # type: ignore[index]
    invariants(store)


def test_a_frozen_members_spends_are_left_alone_and_a_failed_write_leaves_every_one(
        store: Store, jeton_app: jeton.Jeton, clock: ManualClock) -> None:
    c = _community(jeton_app, "tf", clock)
    c.freeze_wallet("bob", reason="chargeback fraud reported", actor="mod-1")
    requests = [SpendRequest(member="alice", amount=1, idempotency_key="a1"),
                SpendRequest(member="bob", amount=1, idempotency_key="b1"),
                SpendRequest(member="carol", amount=1, idempotency_key="c1")]
    made = jeton_app.ledger.spend_together(c.id, requests)
    assert [m is not None for m in made] == [True, False, True]
    with pytest.raises(jeton.WalletFrozen):  # alone, as ever
        c.spend("bob", 1, idempotency_key="b1")

    def refuse(ws: Any, results: Any) -> None:
        raise jeton.JetonError("refused by a hook")

    jeton_app.ledger.hooks.append(refuse)
    try:
        before = c.balance("alice").posted
        more = [SpendRequest(member="alice", amount=1, idempotency_key=f"h{i}")
                for i in range(2)]
        assert jeton_app.ledger.spend_together(c.id, more) == [None, None]
        assert c.balance("alice").posted == before  # nothing of it written
    finally:
        jeton_app.ledger.hooks.remove(refuse)
    assert jeton_app.ledger.spend_together(c.id, requests[:1]) == [None]  # one: made alone


_EXAMPLES = itertools.count()


@pytest.mark.slow
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_batch_is_the_same_as_its_spends_one_at_a_time(
        sqlite_store: Store, invariants: Check, data: st.DataObject) -> None:
    clock = ManualClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    app = jeton.Jeton(sqlite_store, clock=clock)
    split = st.one_of(
        st.builds(lambda m, n: {"member": m, "amount": n}, st.sampled_from(MEMBERS),
                  st.integers(1, 3)),
        st.builds(lambda n: {"account": "appstore", "amount": n}, st.integers(1, 3)))
    item = st.fixed_dictionaries(
        {"member": st.sampled_from(MEMBERS), "amount": st.integers(1, 9),
         "idempotency_key": st.sampled_from(["a", "b", "c", "d", "old", "old-2"])},
        optional={"service": st.sampled_from(["chat.message", "video.minute"]),
                  "splits": st.lists(split, max_size=2), "memo": st.sampled_from(["", "m"])})
    items = data.draw(st.lists(item, min_size=1, max_size=12))
    name = f"x{next(_EXAMPLES)}-"
    _compare(sqlite_store, app, clock, items, name=name)
    for community_id in (f"{name}one", f"{name}many"):  # the example's, not the earlier ones'
        invariants(sqlite_store, community_id)


texts = st.text(max_size=10)  # any characters: quotes, backslashes, controls, non-ASCII


@given(member=texts, amount=st.integers(1, 2**62), asset=texts, service=st.none() | texts,
       memo=texts, reason_code=texts,
       metadata=st.sampled_from([{}, {"file": "f1", "n": 2}]),
       splits=st.sampled_from([[], [{"member": "bob", "amount": 1}]]))
def test_a_spend_request_hashes_as_its_fields_dumped(
        member: str, amount: int, asset: str, service: str | None, memo: str, reason_code: str,
        metadata: dict[str, Any], splits: list[dict[str, Any]]) -> None:
    req = SpendRequest(member=member, amount=amount, idempotency_key="k", asset=asset,
                       service=service, memo=memo, reason_code=reason_code, metadata=metadata,
                       splits=splits)
    request = req.model_dump(exclude={"idempotency_key"})
    request["to"] = None
    assert _spend_request_hash(req) == idempotency.request_hash("spend", request)


def test_a_trusted_result_is_the_model_it_stands_for() -> None:
    posting = {"account_id": "wallet:a:CREDIT", "amount": -3, "balance_after": 7}
    move = {"lot_id": "L1", "account_id": "wallet:a:CREDIT", "amount": -3}
    values = {
        "id": "T1", "kind": "spend", "asset": "CREDIT", "amount": 3, "member_id": "a",
        "service": None, "reverses_id": None, "hold_id": None,
        "postings": [posting, {"account_id": "revenue:CREDIT", "amount": 3,
                               "balance_after": None}],
        "lots": [move], "actor": "system", "reason_code": "spend", "memo": "",
        "metadata": {"x": 1}, "effective_at": datetime(2026, 1, 15, 12, tzinfo=UTC),
        "balance_after": 7, "replayed": False}
    assert list(values) == list(TransferResult.model_fields)
    built = trusted(TransferResult, {
        **values,
        "postings": [trusted(PostingInfo, dict(p)) for p in values["postings"]],
        "lots": [trusted(LotMoveInfo, dict(move))]})
    validated = TransferResult.model_validate(values)
    assert built == validated
    assert built.model_dump_json() == validated.model_dump_json()
    assert built.model_fields_set == validated.model_fields_set
    assert built.model_copy(update={"replayed": True}).replayed
    item = trusted(BatchItem, {"index": 0, "status": "ok", "detail": "", "result": built})
    assert item == BatchItem(index=0, status="ok", result=validated)


# ---- the garbage collector while a batch is written (decision 0092) ----

def test_the_collector_is_paused_while_a_batch_is_written_and_resumed_after(
        sqlite_store: Store) -> None:
    import gc

    j = jeton.Jeton(sqlite_store)
    c = j.create_community("Chat", "chat")
    c.create_member("alice")
    c.grant("alice", 10, idempotency_key="g")
    seen: list[bool] = []
    j.ledger.hooks.append(lambda ws, results: seen.append(gc.isenabled()))
    assert gc.isenabled()
    c.spend_batch([SpendRequest(member="alice", amount=1, idempotency_key="b1")])
    assert (seen, gc.isenabled()) == ([False], True)
    with pytest.raises(jeton.NotFound):  # a batch that fails inside resumes it too
        j.ledger.spend_batch("no-such-community",
                             [SpendRequest(member="alice", amount=1, idempotency_key="b2")])
    assert gc.isenabled()
    gc.disable()  # a host that turned it off keeps it off
    try:
        c.spend_batch([SpendRequest(member="alice", amount=1, idempotency_key="b3")])
        assert not gc.isenabled()
    finally:
        gc.enable()
    j.close()


def test_overlapping_pauses_resume_the_collector_when_the_last_one_ends() -> None:
    import gc
    import threading

    from jeton.services.ledger import collector

    inside, leave = threading.Event(), threading.Event()

    def other_batch() -> None:
        with collector.paused():
            inside.set()
            leave.wait(10)

    t = threading.Thread(target=other_batch)
    with collector.paused():
        t.start()
        inside.wait(10)
    assert not gc.isenabled()  # the other batch still runs
    leave.set()
    t.join(10)
    assert gc.isenabled()
