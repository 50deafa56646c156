"""Packs, plans, coupons and the affiliate program in the dashboard: listed for every staff
user, created and retired by owners only, audited, and made once however often a form is sent."""

from __future__ import annotations

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.services.access.audit import list_audit
from jeton.services.funding import coupons
from jeton.store.engine import Store

from .conftest import Staff
from .helpers import Desk, hidden_fields, signed_in, text_of

pytestmark = pytest.mark.anyio

PACK = {"name": "50 credits", "credits": "50", "price": "15.00", "currency": "usd",
        "bonus_credits": "5", "bonus_expiry_days": "30", "credit_expiry_days": "",
        "classes": "vip:30", "keys": "", "visible_to": "", "sort_order": "1", "pack_id": ""}


@pytest.fixture
def j(store: Store, clock: ManualClock, staff: Staff) -> jeton.Jeton:
    j = jeton.Jeton(store, clock=clock)
    j.community("chat").create_member("alice")
    return j


def actions(store: Store) -> list[str]:
    return [entry.action for entry in list_audit(store, "chat")]


# ---- packs ----

async def test_offer_forms_render_empty_fields(owner: Desk, j: jeton.Jeton) -> None:
    j.community("chat").create_pack("20 credits", credits=20, price_minor=600, pack_id="p20",
                                    keys=[("archive", 7)])
    for path in ("/admin/packs/new", "/admin/packs/new?copy=p20", "/admin/plans/new",
                 "/admin/coupons/new", "/admin/coupons/affiliate-program"):
        page = await owner.get(path)
        assert page.status_code == 200, path
        assert "built-in method" not in page.text, path  # a field bound to a dict method
    copy = await owner.get("/admin/packs/new?copy=p20")
    assert 'name="keys" type="text" value="archive:7"' in copy.text


async def test_owner_creates_a_pack_once_however_often_the_form_is_sent(
        owner: Desk, j: jeton.Jeton, store: Store) -> None:
    form = hidden_fields(await owner.get("/admin/packs/new"))
    first = await owner.post("/admin/packs", {**form, **PACK})
    assert first.status_code == 303
    assert first.headers["location"] == "/admin/packs?notice=pack_created"
    again = await owner.post("/admin/packs", {**form, **PACK})
    assert again.status_code == 303
    packs = j.community("chat").list_packs()
    assert [(p.name, p.credits, p.price_minor, p.currency, p.bonus_credits) for p in packs] == [
        ("50 credits", 50, 1500, "USD", 5)]
    assert [(e.name, e.days) for e in packs[0].classes] == [("vip", 30)]
    listing = text_of(await owner.get(first.headers["location"]))
    assert "The pack is on sale." in listing
    assert "50 + 5 bonus" in listing
    assert "$15.00" in listing
    assert "class vip for 30 days" in listing
    assert "pack.created" in actions(store)


async def test_pack_form_errors_are_shown_beside_their_fields(owner: Desk,
                                                              j: jeton.Jeton) -> None:
    form = hidden_fields(await owner.get("/admin/packs/new"))
    page = await owner.post("/admin/packs", {**form, **PACK, "name": "", "price": "1.234",
                                             "currency": "dollars", "classes": "vip:x y"})
    assert page.status_code == 400
    text = text_of(page)
    assert "A name is needed." in text
    assert "Enter a three-letter currency code" in text
    assert "is not a name or NAME:DAYS" in text
    refused = await owner.post("/admin/packs", {**form, **PACK,
                                                "credit_expiry_days": "9999999"})
    assert refused.status_code == 400
    assert 'role="alert"' in refused.text
    assert "credit_expiry_days" in refused.text
    assert j.community("chat").list_packs() == []


async def test_copying_a_pack_makes_a_new_one_and_retires_the_original(
        owner: Desk, j: jeton.Jeton, store: Store) -> None:
    old = j.community("chat").create_pack("20 credits", credits=20, price_minor=600,
                                          pack_id="p20")
    page = await owner.get("/admin/packs/new?copy=p20")
    assert 'value="20 credits"' in page.text
    assert 'value="6.00"' in page.text
    assert "Retire “20 credits” when this pack is saved" in text_of(page)
    form = hidden_fields(page)
    assert form["replaces"] == "p20"
    done = await owner.post("/admin/packs", {**form, **PACK, "name": "20 credits, cheaper",
                                             "credits": "20", "price": "5.00",
                                             "retire_original": "1"})
    assert done.status_code == 303
    packs = {p.id: p for p in j.community("chat").list_packs(include_inactive=True)}
    assert not packs[old.id].active
    assert [p.name for p in packs.values() if p.active] == ["20 credits, cheaper"]
    assert actions(store)[:2] == ["pack.retired", "pack.created"]


async def test_retire_and_restore_a_pack(owner: Desk, j: jeton.Jeton, store: Store) -> None:
    j.community("chat").create_pack("20 credits", credits=20, price_minor=600, pack_id="p20")
    retired = await owner.post("/admin/packs/p20/retire")
    assert retired.headers["location"] == "/admin/packs?notice=pack_retired"
    await owner.post("/admin/packs/p20/retire")  # again: nothing more happens
    assert not j.community("chat").get_pack("p20").active
    assert actions(store).count("pack.retired") == 1
    listing = text_of(await owner.get("/admin/packs"))
    assert "No pack on sale." in listing
    assert "Put back on sale" in listing
    await owner.post("/admin/packs/p20/restore")
    assert j.community("chat").get_pack("p20").active


# ---- plans ----

async def test_owner_creates_a_plan_and_copies_it(owner: Desk, j: jeton.Jeton,
                                                  store: Store) -> None:
    form = hidden_fields(await owner.get("/admin/plans/new"))
    plan = {"name": "Monthly 100", "cycle": "monthly", "credits": "100", "price": "9.99",
            "currency": "USD", "member_class": "member", "plan_id": ""}
    assert (await owner.post("/admin/plans", {**form, **plan})).status_code == 303
    assert (await owner.post("/admin/plans", {**form, **plan})).status_code == 303
    plans = j.community("chat").list_plans()
    assert [(p.name, p.cycle, p.credits, p.price_minor, p.member_class) for p in plans] == [
        ("Monthly 100", "monthly", 100, 999, "member")]
    listing = text_of(await owner.get("/admin/plans"))
    assert "Monthly 100" in listing
    assert "$9.99" in listing
    assert "offered" in listing
    copy = await owner.get(f"/admin/plans/new?copy={plans[0].id}")
    assert 'value="Monthly 100"' in copy.text
    assert 'value="9.99"' in copy.text
    assert hidden_fields(copy)["key"] != form["key"]
    assert "plan.created" in actions(store)


async def test_a_plan_needs_credits_or_a_class(owner: Desk, j: jeton.Jeton) -> None:
    form = hidden_fields(await owner.get("/admin/plans/new"))
    page = await owner.post("/admin/plans", {**form, "name": "Nothing", "cycle": "weekly",
                                             "credits": "", "member_class": "",
                                             "price": "1", "currency": "USD"})
    assert page.status_code == 400
    assert "A plan grants credits, a class, or both." in text_of(page)
    bad_cycle = await owner.post("/admin/plans", {**form, "name": "X", "cycle": "daily",
                                                  "credits": "5", "price": "1",
                                                  "currency": "USD"})
    assert "Choose a cycle." in text_of(bad_cycle)
    assert j.community("chat").list_plans() == []


# ---- coupons and affiliate codes ----

async def test_owner_creates_a_coupon_once_and_retires_it(owner: Desk, j: jeton.Jeton,
                                                          store: Store) -> None:
    page = await owner.get("/admin/coupons/new")
    code = page.text.split('id="f-code" name="code" type="text" value="')[1].split('"')[0]
    assert len(code) == 10
    data = {"code": code, "credits": "25", "credit_expiry_days": "14", "classes": "",
            "keys": "beta", "max_redemptions": "100", "per_member_limit": "1",
            "expires": ""}
    assert (await owner.post("/admin/coupons", data)).status_code == 303
    again = await owner.post("/admin/coupons", data)  # the same form sent twice
    assert again.headers["location"] == "/admin/coupons?notice=coupon_created"
    other = await owner.post("/admin/coupons", {**data, "credits": "30"})
    assert other.status_code == 400
    assert "exists" in text_of(other)
    found = coupons.list_coupons(j, "chat")
    assert [(c.code, c.credits, c.max_redemptions) for c in found] == [(code, 25, 100)]
    listing = text_of(await owner.get("/admin/coupons"))
    assert "25 CREDIT for 14 days, key beta" in listing
    assert "0 of 100" in listing

    await owner.post(f"/admin/coupons/{code}/retire")
    assert not j.community("chat").get_coupon(code).active
    assert "Allow again" in (await owner.get("/admin/coupons")).text
    await owner.post(f"/admin/coupons/{code}/restore")
    assert j.community("chat").get_coupon(code).active
    assert actions(store)[:3] == ["coupon.restored", "coupon.retired", "coupon.created"]


async def test_coupon_refusals_are_explained(owner: Desk) -> None:
    bad = await owner.post("/admin/coupons", {"code": "x!", "credits": "5",
                                              "per_member_limit": "1"})
    assert bad.status_code == 400
    assert "A coupon code is 3-32 letters, digits, - or _." in text_of(bad)
    empty = await owner.post("/admin/coupons", {"code": "EMPTY1", "per_member_limit": "1"})
    assert "A coupon gives credits, a class or a key." in text_of(empty)
    past = await owner.post("/admin/coupons", {"code": "OLD123", "credits": "5",
                                               "per_member_limit": "1",
                                               "expires": "2001-01-01"})
    assert "Choose a day after today" in text_of(past)


async def test_owner_sets_the_affiliate_program(owner: Desk, j: jeton.Jeton,
                                                store: Store) -> None:
    page = await owner.get("/admin/coupons/affiliate-program")
    assert page.status_code == 200
    saved = await owner.post("/admin/coupons/affiliate-program", {
        "classes": "partner, vip", "fee_per_code": "2", "credits": "10",
        "credit_expiry_days": "", "royalty": "3", "max_redemptions_per_code": "",
        "codes_per_member_max": "5"})
    assert saved.headers["location"] == "/admin/coupons?notice=affiliate_saved"
    program = coupons.get_affiliate_program(j, "chat")
    assert (program.classes, program.fee_per_code, program.credits, program.royalty,
            program.codes_per_member_max) == (["partner", "vip"], 2, 10, 3, 5)
    listing = text_of(await owner.get("/admin/coupons"))
    assert "Members of class partner, vip may request up to 5 codes" in listing
    assert "affiliate_program.changed" in actions(store)


# ---- who may ----

@pytest.mark.parametrize("role", ["support", "moderator"])
async def test_only_owners_change_offers(role: str, store: Store, clock: ManualClock,
                                         staff: Staff, j: jeton.Jeton) -> None:
    j.community("chat").create_pack("20 credits", credits=20, price_minor=600, pack_id="p20")
    j.community("chat").create_coupon("SPRING", credits=5)
    user = staff.support if role == "support" else staff.moderator
    async with signed_in(store, clock, user, staff.password, j) as desk:
        for path, words in (("/admin/packs", "New pack"), ("/admin/plans", "New plan"),
                            ("/admin/coupons", "New coupon")):
            page = await desk.get(path)
            assert page.status_code == 200, path
            assert words not in page.text, path
            assert "Retire<" not in page.text, path
        for path in ("/admin/packs/new", "/admin/plans/new", "/admin/coupons/new",
                     "/admin/coupons/affiliate-program"):
            assert (await desk.get(path)).status_code == 403, path
        for path in ("/admin/packs", "/admin/packs/p20/retire", "/admin/plans",
                     "/admin/coupons", "/admin/coupons/SPRING/retire",
                     "/admin/coupons/affiliate-program"):
            refused = await desk.post(path, {**PACK, "code": "NEW123"})
            assert refused.status_code == 403, path
    assert j.community("chat").get_pack("p20").active
    assert j.community("chat").get_coupon("SPRING").active
    assert len(j.community("chat").list_packs()) == 1


async def test_offer_forms_need_the_csrf_token(owner: Desk, j: jeton.Jeton) -> None:
    form = hidden_fields(await owner.get("/admin/packs/new"))
    assert (await owner.post("/admin/packs", {**form, **PACK}, csrf=False)).status_code == 403
    assert (await owner.post("/admin/coupons", {"code": "ABC123", "credits": "5"},
                             csrf=False)).status_code == 403
    assert j.community("chat").list_packs() == []


def test_owner_retires_a_plan_and_offers_it_again(jeton_app: jeton.Jeton) -> None:
    chat = jeton_app.create_community("Plans", "plans")
    plan = chat.create_plan("Monthly", cycle="monthly", credits=100, price_minor=900)
    assert chat.set_plan_active(plan.id, False).active is False
    assert [p.id for p in chat.list_plans()] == []
    assert chat.set_plan_active(plan.id, True).active is True
