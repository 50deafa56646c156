"""Spending budgets of API keys, in process, on SQLite and PostgreSQL: the owner gives a chat
bot's key a daily budget overall and per member; the bot's charges are declined past either
with `key_budget_exceeded` and nothing written, the owner's own charges are not counted, and a
new day starts the budget again. Sixteen threads charging through one key on PostgreSQL never
spend past its budget."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.services.access.api_keys import ApiKeys
from jeton.store.engine import Store
from threads import run_together

from .conftest import SHOP_CATALOG, Check, counts


def _bot_key(j: jeton.Jeton, community: jeton.Community) -> str:
    made = ApiKeys(j.store, j.clock).create(community.id, name="chat bot",
                                             scopes=["charges:write"], created_by="owner")
    return made.id


def test_a_bots_key_spends_within_its_budget(j: jeton.Jeton, shop: jeton.Community,
                                             clock: ManualClock, invariants: Check) -> None:
    bot = _bot_key(j, shop)
    as_bot = f"api_key:{bot}/chat-bot-7"
    for member in ("alice", "bob", "carol"):
        shop.grant(member, 100, idempotency_key=f"g-{member}")

    # No budget yet: the key spends like any other caller.
    assert shop.key_budget(bot).per_key is None
    shop.charge("alice", "classifieds.ad", idempotency_key="free-1", actor=as_bot)

    budget = shop.set_key_budget(bot, period="day", per_key=50, per_member=20, actor="owner")
    assert (budget.per_key, budget.per_member, budget.used) == (50, 20, 0)
    assert budget.window_end - budget.window_start == timedelta(days=1)

    # Per member: alice may be charged 20 a day by the bot, the third ad is refused.
    shop.charge("alice", "classifieds.ad", idempotency_key="a1", actor=as_bot)
    shop.charge("alice", "classifieds.ad", idempotency_key="a2", actor=as_bot)
    before = counts(j.store)
    with pytest.raises(jeton.KeyBudgetExceeded) as over:
        shop.charge("alice", "classifieds.ad", idempotency_key="a3", actor=as_bot)
    assert over.value.status is jeton.Status.key_budget_exceeded
    assert over.value.extra["budget"] == "per_member"
    assert (over.value.extra["limit"], over.value.extra["used"]) == (20, 20)
    assert over.value.extra["retry_after"] == budget.window_end
    assert counts(j.store) == before  # nothing written, the key is free for a retry
    # The owner's own charge (not the key) is not counted and not refused.
    shop.charge("alice", "classifieds.ad", idempotency_key="owner-1", actor="staff:owner")

    # Overall: 20 (alice) + 20 (bob) + 10 (carol) reach 50; carol's next ad is refused.
    shop.spend("bob", 20, idempotency_key="b1", actor=as_bot)
    shop.charge("carol", "classifieds.ad", idempotency_key="c1", actor=as_bot)
    with pytest.raises(jeton.KeyBudgetExceeded) as over:
        shop.spend("carol", 1, idempotency_key="c2", actor=as_bot)
    assert over.value.extra["budget"] == "per_key"
    assert over.value.extra["member"] is None
    now = shop.key_budget(bot, member_id="carol")
    assert (now.used, now.member_used) == (50, 10)
    assert shop.balance("alice").posted == 100 - 10 - 20 - 10
    invariants(j.store)

    # The next UTC day starts again from nothing.
    clock.advance(timedelta(days=1))
    shop.spend("carol", 1, idempotency_key="c3", actor=as_bot)
    assert shop.key_budget(bot).used == 1

    # Lifting the budget: no figure, no refusal.
    assert shop.set_key_budget(bot).per_key is None
    shop.spend("bob", 60, idempotency_key="b2", actor=as_bot)
    invariants(j.store)


def test_a_metered_capture_counts_and_a_batch_counts_together(
        j: jeton.Jeton, shop: jeton.Community, invariants: Check) -> None:
    bot = _bot_key(j, shop)
    as_bot = f"api_key:{bot}"
    shop.grant("alice", 500, idempotency_key="g")
    shop.set_key_budget(bot, period="month", per_key=100)
    session = shop.start_metered("alice", "video.minute", 3, idempotency_key="m1",
                                 actor=as_bot)
    shop.finish_metered(session.id, 2, idempotency_key="m1-done", actor=as_bot)
    assert shop.key_budget(bot).used == 40
    with pytest.raises(jeton.KeyBudgetExceeded):
        shop.spend("alice", 61, idempotency_key="s1", actor=as_bot)
    shop.spend("alice", 60, idempotency_key="s2", actor=as_bot)
    assert shop.key_budget(bot).used == 100
    assert shop.balance("alice").posted == 500 - 100
    invariants(j.store)


def test_bad_budgets_are_refused_and_change_nothing(j: jeton.Jeton,
                                                    shop: jeton.Community) -> None:
    bot = _bot_key(j, shop)
    with pytest.raises(jeton.InvalidRequest):
        shop.set_key_budget(bot, period="week", per_key=10)
    with pytest.raises(jeton.InvalidRequest):
        shop.set_key_budget(bot, per_key=-1)
    with pytest.raises(jeton.NotFound):
        shop.set_key_budget("no-such-key", per_key=10)
    assert shop.key_budget(bot).per_key is None


THREADS = 16


def test_sixteen_threads_never_spend_past_a_keys_budget(server_store: Store,
                                                        invariants: Check) -> None:
    """Sixteen members charged at once through one key: the overall row is locked, so the
    budget holds exactly; alice's own per-member figure holds too."""
    j = jeton.Jeton(server_store, clock=ManualClock())
    shop = j.create_community("Race", "race")
    shop.load_catalog(SHOP_CATALOG, "toml")
    members = [f"m{i}" for i in range(THREADS)]
    for member in members:
        shop.create_member(member)
        shop.grant(member, 1_000, idempotency_key=f"g-{member}")
    bot = _bot_key(j, shop)
    shop.set_key_budget(bot, period="hour", per_key=301, per_member=40)
    outcomes: list[str] = []
    lock = threading.Lock()

    def charges(i: int) -> None:
        for n in range(8):  # 8 spends of 7 each: a member may have at most 5 (35 <= 40)
            try:
                shop.spend(members[i], 7, idempotency_key=f"s{i}-{n}",
                           actor=f"api_key:{bot}")
                result = "ok"
            except jeton.KeyBudgetExceeded as exc:
                result = str(exc.extra["budget"])
            with lock:
                outcomes.append(result)

    assert run_together(THREADS, charges) == []
    # 43 spends of 7 fit in 301; no member got more than 5 of them.
    assert outcomes.count("ok") == 43
    spent = {m: 1_000 - shop.balance(m).posted for m in members}
    assert sum(spent.values()) == 301
    assert max(spent.values()) <= 35
    assert shop.key_budget(bot).used == 301
    invariants(server_store)
