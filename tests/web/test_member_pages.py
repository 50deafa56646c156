"""Members in the dashboard: search, the member page, and credits granted or charged by hand
with a review step, within role limits, audited, and posted once however often it is sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.services.access.audit import list_audit
from jeton.store.engine import Store

from .conftest import Staff
from .helpers import Desk, hidden_fields, signed_in, text_of

pytestmark = pytest.mark.anyio
CONFIRM = "/admin/members/alice/credits"


@pytest.fixture
def j(store: Store, clock: ManualClock, staff: Staff) -> jeton.Jeton:
    j = jeton.Jeton(store, clock=clock)
    chat = j.community("chat")
    chat.create_member("alice", name="Alice Liddell", email="alice@example.org")
    chat.create_member("bob", name="Bob Builder", email="bob@example.org")
    for n in range(30):
        chat.create_member(f"m{n:02d}", name=f"Member {n}")
    chat.grant("alice", 100, idempotency_key="alice-welcome", source="signup")
    chat.grant("alice", 20, idempotency_key="alice-promo", source="promo",
               expires_at=clock.now() + timedelta(days=7))
    chat.spend("alice", 5, idempotency_key="alice-chat", service="chat.message")
    chat.set_role_limit("moderator", 50, period="day")
    return j


async def grant_form(desk: Desk, member: str = "alice", kind: str = "grant") -> dict[str, str]:
    page = await desk.get(f"/admin/members/{member}/credits?kind={kind}")
    assert page.status_code == 200, page.text
    return hidden_fields(page)


async def test_search_finds_members_by_name_email_or_id(owner: Desk) -> None:
    by_name = await owner.get("/admin/members?q=liddell")
    assert by_name.status_code == 200
    assert "/admin/members/alice" in by_name.text
    assert "/admin/members/bob" not in by_name.text
    by_email = await owner.get("/admin/members?q=BOB@example")
    assert "/admin/members/bob" in by_email.text
    nobody = await owner.get("/admin/members?q=zzz")
    assert "No member matches “zzz”." in text_of(nobody)


async def test_member_list_pages_with_a_cursor(owner: Desk) -> None:
    first = await owner.get("/admin/members")
    assert first.text.count('href="/admin/members/m') == 23  # alice, bob, then m00..m22
    assert "after=m22" in first.text
    second = await owner.get("/admin/members?after=m22")
    assert "/admin/members/m23" in second.text
    assert "/admin/members/alice" not in second.text
    assert "Next page" not in second.text


async def test_member_page_shows_balances_lots_and_the_statement(owner: Desk) -> None:
    page = await owner.get("/admin/members/alice")
    assert page.status_code == 200
    text = text_of(page)
    assert "Posted 115" in text
    assert "Pending (held) 0" in text
    assert "Available 115" in text
    # The expiring promo lot is spent first, so it comes first.
    assert text.index("promo free 15 20") < text.index("signup free 100 100")
    assert "chat.message" in text
    for balance in ("120", "115"):
        assert f">{balance}</td>" in page.text
    assert "Grant credits" in page.text


async def test_unknown_member_is_a_404_page(owner: Desk) -> None:
    page = await owner.get("/admin/members/nobody")
    assert page.status_code == 404
    assert "Not found" in page.text


async def test_grant_goes_through_review_then_posts_once(store: Store, owner: Desk,
                                                         j: jeton.Jeton, staff: Staff) -> None:
    form = await grant_form(owner)
    data = {**form, "kind": "grant", "amount": "25", "reason": "Sorry for the outage",
            "expires": ""}
    review = await owner.post("/admin/members/alice/credits/review", data)
    assert review.status_code == 200
    text = text_of(review)
    assert "Check and confirm" in text
    assert "Grant 25 CREDIT" in text
    assert "115 → 140" in text
    assert j.community("chat").balance("alice").posted == 115  # nothing posted yet

    done = await owner.post("/admin/members/alice/credits", hidden_fields(review, CONFIRM))
    assert done.status_code == 303
    assert done.headers["location"] == "/admin/members/alice?notice=credits_granted"
    again = await owner.post("/admin/members/alice/credits", hidden_fields(review, CONFIRM))
    assert again.status_code == 303  # the double submit is a replay
    assert j.community("chat").balance("alice").posted == 140

    page = await owner.get(done.headers["location"])
    assert "The credits were granted." in page.text
    assert "Sorry for the outage" in page.text
    assert f"staff: {staff.owner.email}" in page.text
    entry = list_audit(store, "chat")[0]
    assert entry.action == "credits.granted"
    assert entry.user_email == staff.owner.email
    assert entry.detail["amount"] == 25
    assert entry.target == "alice"


async def test_charge_shows_the_lots_that_would_pay(owner: Desk, j: jeton.Jeton) -> None:
    form = await grant_form(owner, kind="charge")
    review = await owner.post("/admin/members/alice/credits/review",
                              {**form, "kind": "charge", "amount": "30", "reason": "Spam"})
    text = text_of(review)
    assert "Charge 30 CREDIT" in text
    assert "Lots that would pay" in text
    assert text.index("promo (free)") < text.index("signup (free)")
    done = await owner.post("/admin/members/alice/credits", hidden_fields(review, CONFIRM))
    assert done.headers["location"].endswith("notice=credits_charged")
    assert j.community("chat").balance("alice").posted == 85


async def test_charge_over_the_balance_is_refused_on_the_review_page(owner: Desk,
                                                                     j: jeton.Jeton) -> None:
    form = await grant_form(owner, kind="charge")
    review = await owner.post("/admin/members/alice/credits/review",
                              {**form, "kind": "charge", "amount": "500", "reason": "Test"})
    assert "this charge would be refused" in text_of(review)
    assert f'action="{CONFIRM}"' not in review.text  # no Confirm for a charge that cannot pass
    assert "button danger" not in review.text
    carried = hidden_fields(review, "/admin/members/alice/credits/edit")
    refused = await owner.post(CONFIRM, carried)  # sent anyway: the service refuses it
    assert refused.status_code == 403
    assert "Not posted." in text_of(refused)
    assert j.community("chat").balance("alice").posted == 115


async def test_a_charge_review_refuses_as_its_lots_say_while_a_spend_lands(
        owner: Desk, j: jeton.Jeton, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether a charge would be refused and the lots that would pay it are one read: a spend
    landing while the review page is built never leaves a Confirm button over lots that do
    not cover the amount."""
    chat = j.community("chat")
    preview = j.ledger.preview_debit

    def spent_first(*args: Any, **kwargs: Any) -> Any:  # after the balance was read
        chat.spend("alice", 30, idempotency_key="meanwhile", service="chat.message")
        return preview(*args, **kwargs)

    monkeypatch.setattr(j.ledger, "preview_debit", spent_first)
    form = await grant_form(owner, kind="charge")
    review = await owner.post("/admin/members/alice/credits/review",
                              {**form, "kind": "charge", "amount": "100", "reason": "Spam"})
    text = text_of(review)
    assert "only 85 CREDIT available: this charge would be refused" in text
    assert f'action="{CONFIRM}"' not in review.text


async def test_credits_kept_for_a_service_cannot_pay_a_charge_by_hand(
        owner: Desk, j: jeton.Jeton) -> None:
    """A charge by hand pays for no service, so credits scoped to one cannot pay it: the
    review refuses what posting would refuse."""
    chat = j.community("chat")
    chat.grant("alice", 40, idempotency_key="chat-only", scope="chat.message")
    assert chat.balance("alice").available == 155
    form = await grant_form(owner, kind="charge")
    review = await owner.post("/admin/members/alice/credits/review",
                              {**form, "kind": "charge", "amount": "130", "reason": "Spam"})
    assert "only 115 CREDIT available: this charge would be refused" in text_of(review)
    assert f'action="{CONFIRM}"' not in review.text
    refused = await owner.post(CONFIRM, hidden_fields(review, "/admin/members/alice/credits/edit"))
    assert refused.status_code == 403  # what posting it says
    assert chat.balance("alice").posted == 155


async def test_form_errors_are_shown_beside_their_fields(owner: Desk) -> None:
    form = await grant_form(owner)
    page = await owner.post("/admin/members/alice/credits/review",
                            {**form, "kind": "grant", "amount": "2.5", "reason": "",
                             "expires": "2000-01-01"})
    assert page.status_code == 400
    text = text_of(page)
    assert "Enter a number (no decimals)." in text
    assert "A reason is needed." in text
    assert "Choose a day after today" in text
    assert 'aria-invalid="true"' in page.text


async def test_change_goes_back_to_the_form_with_the_same_key(owner: Desk) -> None:
    form = await grant_form(owner)
    review = await owner.post("/admin/members/alice/credits/review",
                              {**form, "kind": "grant", "amount": "7", "reason": "Gift"})
    back = await owner.post("/admin/members/alice/credits/edit",
                            hidden_fields(review, "/admin/members/alice/credits/edit"))
    assert back.status_code == 200
    assert 'value="7"' in back.text
    assert ">Gift</textarea>" in back.text
    assert hidden_fields(back)["key"] == form["key"]


async def test_a_reused_form_with_other_values_posts_nothing(owner: Desk,
                                                             j: jeton.Jeton) -> None:
    form = await grant_form(owner)
    first = {**form, "kind": "grant", "amount": "5", "reason": "One"}
    await owner.post("/admin/members/alice/credits", first)
    second = await owner.post("/admin/members/alice/credits", {**first, "amount": "6"})
    assert second.status_code == 409
    assert "already used for a different posting" in text_of(second)
    assert j.community("chat").balance("alice").posted == 120


async def test_grant_with_an_expiry_makes_an_expiring_lot(owner: Desk, clock: ManualClock,
                                                          j: jeton.Jeton) -> None:
    form = await grant_form(owner, member="bob")
    day = (clock.now() + timedelta(days=3)).date().isoformat()
    review = await owner.post("/admin/members/bob/credits/review",
                              {**form, "kind": "grant", "amount": "10", "reason": "Trial",
                               "expires": day})
    assert f"{day} 23:59 UTC" in text_of(review)
    await owner.post("/admin/members/bob/credits",
                     hidden_fields(review, "/admin/members/bob/credits"))
    lots = j.community("chat").lots("bob")
    assert [(lot.remaining, lot.source) for lot in lots] == [(10, "staff")]
    assert lots[0].expires_at is not None
    assert lots[0].expires_at.date().isoformat() == day


async def test_moderator_within_the_limit_posts_and_over_it_is_refused_clearly(
        store: Store, clock: ManualClock, staff: Staff, j: jeton.Jeton) -> None:
    async with signed_in(store, clock, staff.moderator, staff.password, j) as mod:
        form = await grant_form(mod)
        assert "may post up to 50 CREDIT per day" in text_of(await mod.get(
            "/admin/members/alice/credits"))
        ok = await mod.post("/admin/members/alice/credits",
                            {**form, "kind": "grant", "amount": "40", "reason": "Welcome"})
        assert ok.status_code == 303
        form = await grant_form(mod)
        review = await mod.post("/admin/members/alice/credits/review",
                                {**form, "kind": "grant", "amount": "20", "reason": "More"})
        refused = await mod.post("/admin/members/alice/credits", hidden_fields(review, CONFIRM))
        assert refused.status_code == 403
        text = text_of(refused)
        assert "Not posted." in text
        assert "Over the moderator limit of 50 CREDIT per day: 10 left this day." in text
        assert "Confirm: grant" not in text  # refused: change it or cancel
        assert 'role="alert"' in refused.text
    assert j.community("chat").balance("alice").posted == 155


async def test_moderator_without_a_limit_set_is_told_so(store: Store, clock: ManualClock,
                                                        staff: Staff) -> None:
    j = jeton.Jeton(store, clock=clock)
    j.community("chat").create_member("carol")
    async with signed_in(store, clock, staff.moderator, staff.password, j) as mod:
        page = await mod.get("/admin/members/carol/credits")
        assert "No posting limit is set for your role yet" in text_of(page)
        form = hidden_fields(page)
        refused = await mod.post("/admin/members/carol/credits",
                                 {**form, "kind": "grant", "amount": "1", "reason": "Hi"})
        assert refused.status_code == 403
        assert "has no posting limit" in text_of(refused)


async def test_support_sees_no_write_forms_and_cannot_post(store: Store, clock: ManualClock,
                                                           staff: Staff, j: jeton.Jeton) -> None:
    async with signed_in(store, clock, staff.support, staff.password, j) as support:
        page = await support.get("/admin/members/alice")
        assert page.status_code == 200
        assert "Grant credits" not in page.text
        assert (await support.get("/admin/members/alice/credits")).status_code == 403
        for path in ("/admin/members/alice/credits/review", "/admin/members/alice/credits"):
            refused = await support.post(path, {"key": "k1", "kind": "grant", "amount": "5",
                                                "reason": "x"})
            assert refused.status_code == 403
            assert "Not allowed" in refused.text
    assert j.community("chat").balance("alice").posted == 115


async def test_credit_posts_need_the_csrf_token(owner: Desk, j: jeton.Jeton) -> None:
    form = await grant_form(owner)
    data = {**form, "kind": "grant", "amount": "5", "reason": "x"}
    refused = await owner.post("/admin/members/alice/credits", data, csrf=False)
    assert refused.status_code == 403
    assert "This form could not be accepted" in refused.text
    assert j.community("chat").balance("alice").posted == 115
