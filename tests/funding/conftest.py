"""Fixtures for funding scenarios: a chess club whose members buy credits.

- `j`: a Jeton on the `store` fixture (SQLite, and PostgreSQL when configured) with a movable
  clock and the in-process payment providers (demo and offline), Stripe not configured.
- `club`: the community `chess`, members ann, bob and cy, and three packs: "20 credits for
  $60", "50 for $150", "100 for $300".
- `pay(j, checkout)`: the member pays on the demo provider's page.
- `ok(store)`: every ledger invariant holds (`jeton verify` finds nothing).
- `events(store, type)`: payloads of the outbox events of one type.
- `owing(club, members)`: billing set (25 cents a credit) and each member on a 100-credit line
  who played one 2-credit game on it, so a bill has something to ask.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import jeton
from jeton.config import Settings
from jeton.core.clock import ManualClock
from jeton.payments.offline import DemoProvider
from jeton.services.funding.provider_webhooks import handle_provider_webhook
from jeton.services.ledger.verify import verify
from jeton.store.engine import Store
from jeton.store.tables.ledger import events as events_table

SUCCESS = "https://chess.example/credits/thanks?session={CHECKOUT_SESSION_ID}"
CANCEL = "https://chess.example/credits"


def ok(store: Store) -> None:
    found = verify(store)
    assert not found, "invariants broken:\n" + "\n".join(str(v) for v in found)


def owing(club: jeton.Community, members: tuple[str, ...]) -> None:
    club.load_catalog('[services."chess.game"]\nname = "A game"\ncredits = 2\n')
    club.set_billing_settings(credit_price_minor=25, currency="USD", cycle="month",
                              grace_days=7, bill_at_percent=90)
    for member in members:
        club.set_credit_line(member, -100)
        club.charge(member, "chess.game", idempotency_key=f"game-{member}")


def events(store: Store, type_: str, member_id: str | None = None) -> list[dict[str, Any]]:
    e = events_table.c
    stmt = sa.select(e.payload_json).where(e.type == type_).order_by(e.event_id)
    if member_id is not None:
        stmt = stmt.where(e.member_id == member_id)
    with store.read() as conn:
        return [json.loads(raw) for raw in conn.execute(stmt).scalars()]


def pay(j: jeton.Jeton, checkout: jeton.Checkout) -> jeton.WebhookOutcome:
    """The member pays on the demo checkout page; the provider's event reaches the handler."""
    demo = j.payments.get("demo")
    assert isinstance(demo, DemoProvider)
    assert checkout.session_id is not None
    webhook = demo.complete_checkout(checkout.session_id)
    return handle_provider_webhook(j, "demo", webhook.payload, webhook.headers)


@pytest.fixture
def j(store: Store, clock: ManualClock) -> Iterator[jeton.Jeton]:
    app = jeton.Jeton(store, clock=clock, settings=Settings())
    yield app
    app.payments.close()


@pytest.fixture
def club(j: jeton.Jeton) -> jeton.Community:
    chess = j.create_community("Chess club", "chess")
    for member in ("ann", "bob", "cy"):
        chess.create_member(member)
    chess.create_pack("20 credits", pack_id="p20", credits=20, price_minor=6000)
    chess.create_pack("50 credits", pack_id="p50", credits=50, price_minor=15000)
    chess.create_pack("100 credits", pack_id="p100", credits=100, price_minor=30000)
    return chess


@pytest.fixture
def buy(j: jeton.Jeton, club: jeton.Community) -> Callable[..., jeton.PurchaseInfo]:
    """`buy("ann", "p20")`: a whole purchase on the demo provider, paid."""
    counter = iter(range(1_000_000))

    def run(member: str, pack: str, *, save: bool = False) -> jeton.PurchaseInfo:
        checkout = club.buy_pack(member, pack, idempotency_key=f"buy-{next(counter)}",
                                 success_url=SUCCESS, cancel_url=CANCEL,
                                 save_payment_method=save)
        pay(j, checkout)
        return club.get_purchase(checkout.purchase_id)

    return run
