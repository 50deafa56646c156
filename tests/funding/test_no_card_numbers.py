"""Jeton never stores a card number: after a day of sales through Stripe (checkouts, a saved
card, an off-session recharge, refunds), an offline check and coupons, neither the database
file, nor the logs, nor the test fixtures hold a digit string that looks like one (13-19 digits
passing the Luhn check)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import jeton
from jeton.config import Settings
from jeton.core.clock import ManualClock
from jeton.payments.fake_stripe import FakeStripe
from jeton.services.funding.provider_webhooks import handle_provider_webhook
from jeton.store.engine import Store

from .conftest import CANCEL, SUCCESS, ok

# A run of 13-19 digits not inside a longer token. Nor the last group of a UUID (12 hex
# digits): in the database file's raw bytes a record's next byte may be a digit (a length of
# 48 to 57 is '0' to '9'), which made a transfer id's all-digit tail look like 13 digits.
_UUID_HEAD = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
_RUN = re.compile(rf"(?<![0-9A-Za-z])(?<!{_UUID_HEAD})[0-9]{{13,19}}(?![0-9A-Za-z])")
TESTS = Path(__file__).resolve().parents[1]


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def card_like(text: str) -> list[str]:
    return [m.group() for m in _RUN.finditer(text) if luhn_valid(m.group())]


def _test_card() -> str:
    """A Luhn-valid 16-digit number, made here so that no source file spells one out."""
    body = "4" + "0" * 14
    return body + next(str(d) for d in range(10) if luhn_valid(body + str(d)))


def test_the_scanner_finds_a_card_number_and_ignores_other_digits() -> None:
    card = _test_card()
    assert card_like(f"note: paid with {card} today") == [card]
    assert card_like(f"ref_{card}") == [card]  # an underscore does not hide one
    assert card_like(f"cs_test_a{card}f9") == []  # digits inside a hex token are not one
    assert card_like(card[:-1] + str((int(card[-1]) + 1) % 10)) == []  # Luhn fails
    # A transfer id whose last group is all digits, then a record's length byte that is one.
    tail = "093835247492"
    digit = next(str(d) for d in range(10) if luhn_valid(tail + str(d)))
    assert card_like(f"\x04issuance:CREDIT01a24ffc-0185-7021-88f0-{tail}{digit}\x04") == []
    assert card_like(f"paid-{card}") == [card]  # a dash alone does not hide one


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


def test_no_card_number_in_the_database_the_logs_or_the_fixtures(
        sqlite_store: Store, clock: ManualClock, fake: FakeStripe, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(stripe_api_key=fake.api_key, stripe_webhook_secret=fake.webhook_secret,
                        stripe_api_base=fake.base_url)
    app = jeton.Jeton(sqlite_store, clock=clock, settings=settings)
    club = app.create_community("Chess club", "chess")
    for member in ("ann", "bob"):
        club.create_member(member)
    club.create_pack("20 credits", pack_id="p20", credits=20, price_minor=6000)
    club.create_pack("50 credits", pack_id="p50", credits=50, price_minor=15000)

    checkout = club.buy_pack("ann", "p20", idempotency_key="ann-1", success_url=SUCCESS,
                             cancel_url=CANCEL, save_payment_method=True)
    assert checkout.session_id is not None
    paid = fake.complete_checkout(checkout.session_id, deliver=False)
    handle_provider_webhook(app, "stripe", paid.payload, paid.headers)
    club.set_auto_recharge("ann", pack_id="p50", threshold=10, monthly_cap=2)
    club.spend("ann", 15, idempotency_key="games", service="chess.game")
    club.run_funding_jobs()
    club.refund_purchase(checkout.purchase_id, idempotency_key="refund", amount_minor=1500)
    offline = club.buy_pack("bob", "p20", idempotency_key="bob-1", provider="offline",
                            success_url=SUCCESS, cancel_url=CANCEL)
    club.record_offline_payment(offline.purchase_id, reference="check 1042")
    club.create_coupon("SPRING", credits=5)
    club.redeem_coupon("bob", "SPRING", idempotency_key="bob-spring")
    assert club.balance("ann").available == 5 + 50 - 5
    ok(sqlite_store)
    # A member pastes a card number where free text goes: refused, so never stored.
    with pytest.raises(jeton.InvalidRequest):
        club.record_offline_payment(offline.purchase_id,
                                    reference=f"card {_test_card()}")
    app.close()

    db = Path(sqlite_store.engine.url.database or "")
    files = [p for p in (db, db.with_name(db.name + "-wal")) if p.exists()]
    assert files
    assert files[0].stat().st_size > 0
    for path in files:
        found = card_like(path.read_bytes().decode("latin-1"))
        assert not found, f"{path.name} holds card-like numbers {found}"
    logs = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert not card_like(logs), "the logs hold a card-like number"
    fixtures = [*sorted((TESTS / "funding").glob("*.py")), TESTS / "conftest.py",
                TESTS / "payments" / "conftest.py"]
    for path in fixtures:
        found = card_like(path.read_text())
        assert not found, f"{path.relative_to(TESTS)} holds card-like numbers {found}"
