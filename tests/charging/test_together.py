"""Charges of one community made together in one write (services/charging/together.py,
decisions 0120 and 0121): each answers and writes what it would have alone; a charge the
group cannot make as `charge` would is left to be made alone. On every database.
"""

from __future__ import annotations

import pytest

import jeton
from jeton.core.errors import InsufficientCredits
from jeton.services.charging import together
from jeton.services.charging.funding_sources import LoyaltyCardSource
from jeton.services.charging.results import ChargeReceipt
from jeton.services.charging.together import ChargeAsk, charge_together
from jeton.store.engine import Store

from .conftest import LIBRARY_CATALOG, Check, counts


def _download(member: str, size: int, key: str) -> ChargeAsk:
    return ChargeAsk(member, "files.download", size, key, context={"uploader": "uploader"})


def _made(library: jeton.Community, asks: list[ChargeAsk],
          ) -> list[tuple[ChargeReceipt, str] | None]:
    return charge_together(library.jeton.charging, library.id, asks)


@pytest.fixture
def readers(library: jeton.Community) -> jeton.Community:
    library.create_member("reader2")
    library.grant("reader", 10_000, idempotency_key="buy-reader")
    library.grant("reader2", 10_000, idempotency_key="buy-reader2")
    return library


def test_charges_made_together_answer_and_write_what_each_would_alone(
        readers: jeton.Community, store: Store, invariants: Check) -> None:
    asks = [_download("reader", 3000, "t1"), _download("reader2", 1000, "t2"),
            _download("reader", 2000, "t3")]  # the reader twice: the second sees the first
    before = counts(store)
    made = _made(readers, asks)
    invariants(store)
    receipts = [found[0] for found in made if found is not None]
    assert len(receipts) == 3
    added = {t: n - before[t] for t, n in counts(store).items() if n != before[t]}
    assert added["transfers"] == added["idempotency_keys"] == 3  # a charge's rows, each
    assert [r.charged for r in receipts] == [3000, 1000, 2000]
    assert [r.balance_after for r in receipts] == [7000, 9000, 5000]
    assert [[(s.target, s.amount) for s in r.splits] for r in receipts] == [
        [("party:uploader", 900), ("account:appstore", 500), ("account:revenue", 1600)],
        [("party:uploader", 300), ("account:appstore", 500), ("account:revenue", 200)],
        [("party:uploader", 600), ("account:appstore", 500), ("account:revenue", 900)]]
    assert readers.balance("reader").available == 5000
    assert readers.balance("reader2").available == 9000
    assert readers.balance("uploader").available == 1800
    assert readers.account_balance("appstore").posted == 1500
    assert readers.account_balance("revenue").posted == 2700
    for ask, (receipt, answer) in zip(asks, [m for m in made if m is not None], strict=True):
        assert ChargeReceipt.model_validate_json(answer) == receipt  # the JSON sent is its own
        again = readers.charge(ask.member_id, ask.service, ask.quantity, context=ask.context,
                               idempotency_key=ask.idempotency_key)
        assert again.replayed  # each key kept its answer, as a charge made alone keeps it
        assert again.model_copy(update={"replayed": False}) == receipt
        assert readers.get_transfer(receipt.id).metadata["context"] == {"uploader": "uploader"}
    invariants(store)


def test_a_charge_that_declines_is_left_alone_and_the_others_are_made(
        readers: jeton.Community, store: Store, invariants: Check) -> None:
    readers.create_member("broke")
    asks = [_download("reader", 1000, "d1"), _download("broke", 1000, "d2"),
            _download("reader2", 1000, "d3")]
    made = _made(readers, asks)
    invariants(store)
    assert made[1] is None  # nothing of it written; made alone it declines as ever
    assert [m[0].balance_after for m in (made[0], made[2]) if m is not None] == [9000, 9000]
    before = counts(store)
    with pytest.raises(InsufficientCredits):
        readers.charge("broke", "files.download", 1000, context={"uploader": "uploader"},
                       idempotency_key="d2")
    after = counts(store)
    assert {t: n - before[t] for t, n in after.items() if n != before[t]} == {"events": 1}
    invariants(store)


def test_a_key_used_before_or_twice_and_a_refused_request_are_left_alone(
        readers: jeton.Community, store: Store, invariants: Check) -> None:
    readers.charge("reader", "files.download", 1000, context={"uploader": "uploader"},
                   idempotency_key="used")
    asks = [_download("reader", 1000, "used"), _download("reader", 1000, "twice"),
            _download("reader2", 1000, "twice"), _download("reader", 1000, "k1"),
            ChargeAsk("reader", "no such service!", 1, "k2"), _download("reader2", 1000, "k3")]
    made = _made(readers, asks)
    invariants(store)
    assert [m is not None for m in made] == [False, False, False, True, False, True]
    assert readers.balance("reader").available == 8000
    assert readers.balance("reader2").available == 9000


def test_a_group_left_with_fewer_than_two_charges_makes_none(
        readers: jeton.Community, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    readers.create_member("broke")
    asks = [_download("broke", 1000, "b1"), _download("reader", 1000, "b2")]
    before = counts(store)
    assert _made(readers, asks) == [None, None]  # one left after the decline: made alone
    assert counts(store) == before
    monkeypatch.setattr(together, "REBUILDS_MAX", 0)
    asks = [_download("broke", 1000, "b3"), _download("reader", 1000, "b4"),
            _download("reader2", 1000, "b5")]
    assert _made(readers, asks) == [None, None, None]  # no build left after the decline
    assert counts(store) == before


def test_charges_of_a_community_on_a_test_clock_are_made_at_its_time(
        j: jeton.Jeton, store: Store, invariants: Check) -> None:
    lab = j.create_community("Lab", "lab", scale=3, test_mode=True)
    lab.create_account("appstore")
    for member in ("reader", "reader2", "uploader"):
        lab.create_member(member)
    lab.load_catalog(LIBRARY_CATALOG, "toml")
    lab.grant("reader", 10_000, idempotency_key="r")
    lab.grant("reader2", 10_000, idempotency_key="r2")
    lab.advance_test_clock(seconds=86_400, idempotency_key="a-day-on")
    frozen = lab.test_clock().now
    assert frozen != j.clock.now()
    made = charge_together(j.charging, "lab", [_download("reader", 1000, "c1"),
                                               _download("reader2", 1000, "c2")])
    invariants(store)
    assert [m[0].created_at for m in made if m is not None] == [frozen, frozen]


def test_the_charges_of_a_community_with_funding_sources_are_each_made_alone(
        readers: jeton.Community, store: Store) -> None:
    # A source is paid outside the database, by each charge's own write (and refunded if it
    # fails): a group that could be built again would ask it twice.
    source = LoyaltyCardSource(":memory:")
    try:
        readers.jeton.charging.funding_sources.register(source, community_id=readers.id)
        before = counts(store)
        asks = [_download("reader", 1000, "f1"), _download("reader2", 1000, "f2")]
        assert _made(readers, asks) == [None, None]
        assert counts(store) == before
    finally:
        source.close()
