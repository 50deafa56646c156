"""Payment provider webhooks: verified, recorded once, then acted on.

`handle_provider_webhook(j, provider_name, payload, headers)` is what the HTTP layer routes
`POST /v1/providers/<name>/webhook` to (no API key: the provider's signature is the
authentication). The adapter verifies the signature and normalizes the event; then, in one
transaction, the event id is inserted into `provider_events` (a replay finds it there and
changes nothing, even ten copies delivered at once) and its effect is applied with the purchase
row locked, so events that arrive out of order cannot undo each other: once completed, a
purchase ignores `checkout_expired` and `payment_failed`.

Invalid signatures and bodies raise `SignatureInvalid` / `WebhookInvalid` (HTTP 400). Anything
else that fails raises, so the HTTP layer answers 5xx and the provider delivers the event again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from jeton.core.errors import NotFound
from jeton.payments.port import PaymentEvent, PaymentEventKind
from jeton.services.funding import base as fb
from jeton.services.funding import purchases as pur
from jeton.services.funding.results import WebhookOutcome
from jeton.services.ledger.workset import WorkSet
from jeton.store.sql import insert_new
from jeton.store.tables.funding import provider_events
from jeton.store.tables.ledger import communities

if TYPE_CHECKING:
    from jeton.app import Jeton


def handle_provider_webhook(j: Jeton, provider_name: str, payload: bytes,
                            headers: Mapping[str, str]) -> WebhookOutcome:
    """Verify and apply one provider webhook. Safe to call any number of times per event."""
    provider = j.payments.get(provider_name)
    event = provider.parse_webhook(payload, headers)
    if event is None:
        return WebhookOutcome(status="ignored", provider=provider.name,
                              detail="not an event Jeton acts on")
    return process_event(j, event)


def process_event(j: Jeton, event: PaymentEvent) -> WebhookOutcome:
    """Apply a verified event once (see the module docstring)."""
    base: dict[str, Any] = {"provider": event.provider, "event_id": event.event_id,
                            "kind": event.kind.value, "purchase_id": event.purchase_id}
    community_id = event.community_id
    if not community_id or not event.purchase_id:
        return WebhookOutcome(status="ignored", detail="no Jeton purchase on the event", **base)

    def tx(ws: WorkSet) -> WebhookOutcome:
        conn = ws.conn
        if not _community_exists(conn, community_id):
            return WebhookOutcome(status="ignored", detail="unknown community", **base)
        claimed = insert_new(conn, provider_events, ["community_id", "provider", "event_id"],
                                {"community_id": community_id, "provider": event.provider,
                                 "event_id": event.event_id, "kind": event.kind.value,
                                 "purchase_id": event.purchase_id, "outcome": "received",
                                 "received_at_us": ws.now_us})
        if not claimed:
            return WebhookOutcome(status="duplicate", detail="event already handled", **base)
        try:
            row = pur.lock_purchase(conn, community_id, event.purchase_id or "")
        except NotFound:
            outcome = "unknown_purchase"
        else:
            outcome = _apply(ws, j, event, row)
        conn.execute(provider_events.update().where(
            provider_events.c.community_id == community_id,
            provider_events.c.provider == event.provider,
            provider_events.c.event_id == event.event_id).values(outcome=outcome))
        return WebhookOutcome(status="processed", detail=outcome, **base)

    # On the community's time: a purchase of a test-mode community paid on a hosted page is
    # granted at its test clock's instant, like everything else it does (decision 0056).
    with j.ledger.clocks.scope(community_id):
        return fb.write_plain(j.ledger, community_id, tx)


def _apply(ws: WorkSet, j: Jeton, event: PaymentEvent, row: RowMapping) -> str:
    if row["provider"] != event.provider:
        return "wrong_provider"
    kind = event.kind
    actor = f"provider:{event.provider}"
    if kind is PaymentEventKind.checkout_completed:
        if row["kind"] not in pur.CHECKOUT_KINDS:
            return "ignored"
        mismatch = _money_mismatch(event, row)
        if mismatch:
            if row["status"] != "completed":
                pur.fail_in(ws, row, row["status"], mismatch)
            return "amount_mismatch"
        done = pur.complete_in(ws, j, row, actor=actor, payment_id=event.provider_payment_id,
                               customer_id=event.customer_id,
                               payment_method_id=event.payment_method_id)
        return "completed" if done else "already_completed"
    if kind is PaymentEventKind.payment_succeeded:
        if row["kind"] not in pur.OFF_SESSION_KINDS or (
                row["kind"] in pur.CHECKOUT_KINDS and row["status"] == "pending"):
            return "ignored"  # a checkout's payment: its checkout_completed grants
        if _money_mismatch(event, row):
            return "amount_mismatch"
        done = pur.complete_in(ws, j, row, actor=actor, payment_id=event.provider_payment_id)
        return "completed" if done else "already_completed"
    if kind is PaymentEventKind.payment_failed:
        return "failed" if failed_in(ws, j, row, event.failure_reason or "payment_failed") \
            else "ignored"
    if kind is PaymentEventKind.checkout_expired:
        if row["kind"] in pur.CHECKOUT_KINDS and pur.fail_in(ws, row, "expired",
                                                              "checkout_expired"):
            if row["kind"] == "plan":
                from jeton.services.funding import renewals

                renewals.checkout_abandoned_in(ws, row)
            return "expired"
        return "ignored"
    if kind is PaymentEventKind.refunded:
        from jeton.services.funding import refunds

        return refunds.external_refund_in(ws, j, row, event.amount_minor or 0,
                                          event.provider_payment_id)
    if kind is PaymentEventKind.disputed:
        from jeton.services.funding import refunds

        outcome = refunds.dispute_in(ws, j, row, event.amount_minor or 0,
                                     event.provider_payment_id)
        return "disputed" if outcome == "refunded" else outcome
    return "noted"  # checkout_pending: the money is on its way


def failed_in(ws: WorkSet, j: Jeton, row: RowMapping, reason: str) -> bool:
    """An open purchase whose payment failed, and what depends on it (a recharge, a renewal)."""
    if not pur.fail_in(ws, row, "failed", reason):
        return False
    if row["kind"] == "recharge":
        from jeton.services.funding import recharge

        recharge.failed_in(ws, row, reason)
    elif row["kind"] == "bill":
        from jeton.services.funding import bill_payments

        bill_payments.payment_failed_in(ws, row, reason)
    elif row["kind"] in ("renewal", "plan"):
        from jeton.services.funding import renewals

        renewals.payment_failed_in(ws, row, reason)
    return True


def _money_mismatch(event: PaymentEvent, row: RowMapping) -> str | None:
    if event.amount_minor is not None and event.amount_minor != row["amount_minor"]:
        return f"paid {event.amount_minor}, expected {row['amount_minor']}"
    if event.currency is not None and event.currency.upper() != row["currency"]:
        return f"paid in {event.currency}, expected {row['currency']}"
    return None


def _community_exists(conn: Connection, community_id: str) -> bool:
    return conn.execute(sa.select(communities.c.community_id).where(
        communities.c.community_id == community_id)).first() is not None
