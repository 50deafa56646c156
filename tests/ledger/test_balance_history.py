"""A member's balance at any instant and its history, exact against the journal, on every store.

The reference is the journal itself: the sum of the wallet's postings whose transfer is
effective at or before the instant.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

import jeton
from jeton import Status
from jeton.core.clock import ManualClock, to_us
from jeton.core.errors import InvalidRequest, NotFound
from jeton.store.engine import Store
from jeton.store.tables.ledger import postings, transfers

START = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def journal_sum(store: Store, community_id: str, member_id: str, at: datetime) -> int:
    p, t = postings.c, transfers.c
    with store.read() as conn:
        total = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(p.amount), 0))
            .select_from(postings.join(transfers, sa.and_(
                t.community_id == p.community_id, t.transfer_id == p.transfer_id)))
            .where(p.community_id == community_id,
                   p.account_id == f"wallet:{member_id}:CREDIT",
                   t.effective_at_us <= to_us(at))).scalar_one()
    return int(total)


@pytest.fixture
def shop(jeton_app: jeton.Jeton) -> jeton.Community:
    c = jeton_app.create_community("Shop", community_id="shop")
    for member in ("alice", "bob"):
        c.create_member(member)
    return c


def test_balance_at_follows_a_month_of_grants_spends_holds_and_transfers(
        shop: jeton.Community, clock: ManualClock, store: Store, invariants: object) -> None:
    rng = random.Random(15)
    shop.grant("alice", 500, idempotency_key="welcome")
    instants = [clock.now() - timedelta(seconds=1), clock.now()]
    for step in range(60):
        clock.advance(minutes=rng.randint(1, 900))
        move = rng.choice(["spend", "grant", "hold", "transfer"])
        key = f"{move}-{step}"
        available = shop.balance("alice").available
        if move == "grant":
            shop.grant("alice", rng.randint(1, 40), idempotency_key=key)
        elif move == "spend" and available > 0:
            shop.spend("alice", rng.randint(1, min(available, 30)), idempotency_key=key)
        elif move == "hold" and available > 2:
            # A hold bumps the wallet's version without a posting; its capture posts.
            hold = shop.hold("alice", 2, idempotency_key=key)
            clock.advance(seconds=30)
            shop.capture(hold.id, 1, idempotency_key=key + "-capture")
        elif move == "transfer" and available > 0:
            shop.transfer("alice", "bob", 1, idempotency_key=key)
        instants += [clock.now(), clock.now() + timedelta(seconds=rng.randint(1, 600))]
    for at in instants:
        answer = shop.balance_at("alice", at)
        assert answer.posted == journal_sum(store, "shop", "alice", at), at
        assert shop.balance_at("bob", at).posted == journal_sum(store, "shop", "bob", at)
    assert shop.balance_at("alice", clock.now()).posted == shop.balance("alice").posted
    invariants(store)  # type: ignore[operator]


def test_balance_before_the_first_posting_is_zero_and_names_no_transfer(
        shop: jeton.Community, clock: ManualClock) -> None:
    before = clock.now() - timedelta(days=1)
    shop.grant("alice", 30, idempotency_key="g")
    answer = shop.balance_at("alice", before)
    assert (answer.posted, answer.version, answer.transfer_id) == (0, None, None)
    now = shop.balance_at("alice", clock.now())
    assert now.posted == 30
    assert now.transfer_id == shop.statement("alice").data[0].transfer_id
    assert shop.balance_at("bob", clock.now()).posted == 0  # a member with no wallet yet


def test_daily_history_shows_the_balance_at_the_end_of_each_day(
        shop: jeton.Community, clock: ManualClock) -> None:
    clock.set(datetime(2026, 3, 1, 9, tzinfo=UTC))
    shop.grant("alice", 100, idempotency_key="g")  # 1 March
    clock.set(datetime(2026, 3, 2, 18, tzinfo=UTC))
    shop.spend("alice", 25, idempotency_key="s1", service="files.download")  # 2 March
    clock.set(datetime(2026, 3, 4, 8, tzinfo=UTC))
    shop.spend("alice", 5, idempotency_key="s2")  # 4 March
    history = shop.balance_history("alice", datetime(2026, 3, 1, tzinfo=UTC),
                                   datetime(2026, 3, 5, tzinfo=UTC))
    assert history.opening == 0
    assert [(p.at.day, p.posted) for p in history.points] == [(2, 100), (3, 75), (4, 75),
                                                              (5, 70)]
    hourly = shop.balance_history("alice", datetime(2026, 3, 2, 16, tzinfo=UTC),
                                  datetime(2026, 3, 2, 20, 30, tzinfo=UTC), interval="hour")
    assert hourly.opening == 100
    assert [(p.at.hour, p.at.minute, p.posted) for p in hourly.points] == [
        (17, 0, 100), (18, 0, 75), (19, 0, 75), (20, 0, 75), (20, 30, 75)]


def test_bad_ranges_are_refused_and_name_the_problem(shop: jeton.Community) -> None:
    day = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidRequest, match="until must be after since") as bad:
        shop.balance_history("alice", day, day)
    assert bad.value.status is Status.value_invalid
    with pytest.raises(InvalidRequest, match="interval"):
        shop.balance_history("alice", day, day + timedelta(days=1),
                             interval="week")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="at most 1000"):
        shop.balance_history("alice", day, day + timedelta(days=60), interval="hour")
    with pytest.raises(InvalidRequest, match="timezone-aware"):
        shop.balance_at("alice", datetime(2026, 1, 1))
    with pytest.raises(NotFound) as missing:
        shop.balance_at("nobody", day)
    assert missing.value.status is Status.member_not_found
