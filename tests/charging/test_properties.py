"""Properties of charging over random catalogs, classes and balances (Hypothesis).

- A charge's splits always sum to what it charged, and so do its transfer's credit postings.
- `check` and `charge` agree: on whether it is allowed, on the price, and on why not.

Each example is a fresh community in one SQLite store per test (the store is made inside the
test so that Hypothesis does not share a function-scoped fixture between examples).
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import jeton
from conftest import check_invariants
from jeton.core.access import AccessLevel, AccessRule, Requirement
from jeton.core.allowances import AfterAllowance, Allowance, Period
from jeton.core.catalog import Catalog, Service, catalog_from_data
from jeton.core.catalog_data import catalog_to_data
from jeton.core.prices import PriceRule
from jeton.core.splits import PartKind, SplitPart, TargetKind
from jeton.services.ledger.state import SYSTEM_KINDS
from jeton.store.engine import Store
from strategies import CLASS_NAMES, price_rules, split_parts

_ids = itertools.count()
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PAYEE = "payee"


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[jeton.Jeton, jeton.ManualClock, Store]]:
    """One store for every example of this module; each example makes its own community."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'p.db'}", sqlite_synchronous="NORMAL")
        store.create_schema()
        clock = jeton.ManualClock(NOW)
        try:
            yield jeton.Jeton(store, clock=clock), clock, store
        finally:
            store.dispose()


def valid_catalog(service: Service) -> Catalog | None:
    """The catalog of one service if it passes the whole-catalog checks, else None."""
    return catalog_from_data(catalog_to_data(
        Catalog(services={service.code: service}, rewards={}))).catalog


@st.composite
def access_rules(draw: st.DrawFn) -> AccessRule:
    # Open most often: the other outcomes (ok, short, allowance) need a member who gets in.
    level = draw(st.sampled_from([AccessLevel.open, AccessLevel.open, AccessLevel.locked,
                                  AccessLevel.hidden]))
    if level is AccessLevel.open:
        return AccessRule()
    needs = draw(st.lists(st.sampled_from(["class:vip", "key:gold", "class:seller",
                                           "payment"]), unique=True, min_size=1, max_size=3))
    if level is AccessLevel.hidden and needs == ["payment"]:
        needs = ["class:vip", "payment"]
    return AccessRule(level, tuple(Requirement.parse(n) for n in needs))


allowances = st.one_of(st.none(), st.builds(
    Allowance, st.integers(1, 6), st.sampled_from([Period.day, Period.session]),
    st.sampled_from(AfterAllowance)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=price_rules(pays_member=False), parts=split_parts(fees_max=3),
       quantity=st.integers(1, 40), classes=st.frozensets(st.sampled_from(CLASS_NAMES)),
       discount_bp=st.integers(0, 10_000))
def test_a_charges_splits_always_sum_to_its_price(
        world: tuple[jeton.Jeton, jeton.ManualClock, Store], rule: PriceRule,
        parts: list[SplitPart], quantity: int, classes: frozenset[str],
        discount_bp: int) -> None:
    assume(all(p.target.name not in SYSTEM_KINDS and not p.target.name.startswith("wallet")
               for p in parts))
    catalog = valid_catalog(Service("shop.item", "Item", rule, splits=tuple(parts)))
    assume(catalog is not None)
    assert catalog is not None
    j, _clock, store = world
    c = j.create_community("Split", community_id=f"split{next(_ids)}")
    for member in ("buyer", PAYEE):
        c.create_member(member)
    for part in parts:
        if part.target.kind is TargetKind.account:
            c.create_account(part.target.name)
    c.set_catalog(catalog)
    for name in classes:
        c.grant_class("buyer", name)
    j.charging.plan_discount_query = sa.select(sa.literal_column(str(discount_bp)))
    context = {p.target.name: PAYEE for p in parts if p.target.kind is TargetKind.party}
    check, refused = outcome(lambda: c.check("buyer", "shop.item", quantity, context=context))
    if refused is not None:  # a discount took the price under the split's fixed fees
        assert refused.status is jeton.Status.split_invalid
        assert any(p.kind is PartKind.fee for p in parts)
        return
    assert isinstance(check, jeton.CheckResult)
    if check.charge:
        c.grant("buyer", check.charge, idempotency_key="g")
    receipt = c.charge("buyer", "shop.item", quantity, context=context, idempotency_key="k")
    assert receipt.charged == check.charge
    assert sum(s.amount for s in receipt.splits) == receipt.charged
    assert all(s.amount > 0 for s in receipt.splits)
    if receipt.transfer_id is not None:
        transfer = c.get_transfer(receipt.transfer_id)
        assert sum(p.amount for p in transfer.postings if p.amount > 0) == receipt.charged
    assert c.balance("buyer").available == 0
    check_invariants(store, c.id)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=price_rules(), access=access_rules(), allowance=allowances,
       quantity=st.integers(0, 12), used=st.integers(0, 8),
       live=st.frozensets(st.sampled_from(["vip", "seller", "buyer"])),
       lapsed=st.frozensets(st.sampled_from(["vip", "seller"])), gold=st.booleans(),
       balance=st.integers(0, 300), member=st.sampled_from([True, True, True, False]))
def test_check_and_charge_agree_on_price_and_permission(
        world: tuple[jeton.Jeton, jeton.ManualClock, Store], rule: PriceRule,
        access: AccessRule, allowance: Allowance | None, quantity: int, used: int,
        live: frozenset[str], lapsed: frozenset[str], gold: bool, balance: int,
        member: bool) -> None:
    catalog = valid_catalog(Service("shop.item", "Item", rule, access=access,
                                    allowance=allowance))
    assume(catalog is not None)
    assert catalog is not None
    j, clock, store = world
    c = j.create_community("Agree", community_id=f"agree{next(_ids)}")
    c.set_catalog(catalog)
    who = "someone"
    if member:
        c.create_member(who)
        for name in lapsed - live:
            c.grant_class(who, name, expires_at=clock.now() + timedelta(seconds=1))
        clock.advance(seconds=2)  # the lapsed classes have expired, no job has run
        for name in live:
            c.grant_class(who, name)
        if gold:
            c.grant_key(who, "gold")
        if balance:
            c.grant(who, balance, idempotency_key="g")
    session = "s-1" if allowance is not None and allowance.period is Period.session \
        else None
    for n in range(used if member else 0):
        # Use some of the allowance first (each may be refused; that is fine).
        try:
            c.charge(who, "shop.item", 1, session_id=session, idempotency_key=f"u{n}")
        except jeton.JetonError:
            break
    check = c.check(who, "shop.item", quantity, session_id=session)
    event(f"check: {check.status}")
    receipt, refused = outcome(lambda: c.charge(who, "shop.item", quantity, session_id=session,
                                                idempotency_key="the-charge"))
    if refused is not None:
        if not member:  # a non-member is shown the price, and a charge cannot find them
            assert check.status in ("forbidden", "service_not_found")
            assert refused.status in (jeton.Status.member_not_found,
                                      jeton.Status.service_not_found)
        else:
            assert not check.allowed, (check, refused)
            assert refused.status.value == check.status
        return
    assert isinstance(receipt, jeton.ChargeReceipt)
    assert check.allowed, (check, receipt)
    assert (receipt.charged, receipt.paid_to_member) == (check.charge, check.payout)
    assert check.price is not None
    assert receipt.price == check.price
    assert receipt.free_units == check.free_units
    check_invariants(store, c.id)


def outcome(call: Callable[[], object]) -> tuple[object, jeton.JetonError | None]:
    """What a call answered, or the Jeton error it raised."""
    try:
        return call(), None
    except jeton.JetonError as exc:
        return None, exc
