"""The catalog in the dashboard: every change reviewed (a dry run) before it makes a new
version, every error of a file listed, retired services kept, owners only."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx
import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.services.access.audit import list_audit
from jeton.store.engine import Store

from .conftest import Staff
from .helpers import Desk, hidden_fields, signed_in, text_of

pytestmark = pytest.mark.anyio

CATALOG = """
[services."chat.message"]
name = "Chat message"
credits = 1
allowance = { uses = 5, per = "session" }

[services."files.download"]
name = "File download"
kind = "per_unit"
credits = 1
unit_size = 1024
unit = "byte"
splits = [{ to = "party:uploader", share_bp = 3000 }]

[rewards."poll.completed"]
name = "Poll completed"
credits = 5
limit = 3
per = "day"
"""


@pytest.fixture
def j(store: Store, clock: ManualClock, staff: Staff) -> jeton.Jeton:
    j = jeton.Jeton(store, clock=clock)
    j.community("chat").load_catalog(CATALOG)
    return j


async def test_catalog_lists_services_and_rewards(owner: Desk) -> None:
    page = await owner.get("/admin/catalog")
    assert page.status_code == 200
    text = text_of(page)
    assert "Version 1" in text
    assert "1 CREDIT per 1024 byte" in text
    assert "party:uploader 30.00%" in text
    assert "5 per session, then charge" in text
    assert "Poll completed" in text
    assert "3 per day" in text


async def test_a_catalog_file_is_reviewed_then_loaded(owner: Desk, j: jeton.Jeton,
                                                      store: Store) -> None:
    text = CATALOG.replace("credits = 1\nallowance", "credits = 2\nallowance") + """
[services."classifieds.ad"]
name = "Classified ad"
credits = 10
"""
    await owner.get("/admin/catalog/load")
    review = await owner.post("/admin/catalog/load/review", {"format": "toml", "text": text})
    assert review.status_code == 200
    changes = text_of(review)
    assert "version 2" in changes
    assert "Added classifieds.ad Changed chat.message Retired —" in changes
    assert j.community("chat").catalog().version == 1  # a review changes nothing
    form = hidden_fields(review, "/admin/catalog/load")
    form["text"] = text  # the hidden textarea
    done = await owner.post("/admin/catalog/load", form)
    assert done.headers["location"] == "/admin/catalog?notice=catalog_loaded"
    again = await owner.post("/admin/catalog/load", form)
    assert again.headers["location"] == "/admin/catalog?notice=catalog_unchanged"
    info = j.community("chat").catalog()
    assert info.version == 2
    assert {s.code: s.credits for s in info.services}["chat.message"] == 2
    entry = list_audit(store, "chat")[0]
    assert entry.action == "catalog.loaded"
    assert entry.detail["added"] == ["classifieds.ad"]


async def test_every_error_of_a_catalog_file_is_listed(owner: Desk, j: jeton.Jeton) -> None:
    bad = '[services."a.b"]\nname = "A"\ncredits = "x"\n\n[services."c.d"]\ncredits = 1\n'
    page = await owner.post("/admin/catalog/load/review", {"format": "toml", "text": bad})
    assert page.status_code == 400
    text = text_of(page)
    assert "The catalog has 2 problems; nothing was changed." in text
    assert "Line 3:" in text
    assert "Line 5:" in text
    assert j.community("chat").catalog().version == 1


async def test_a_load_against_a_moved_catalog_is_reviewed_again(owner: Desk,
                                                                j: jeton.Jeton) -> None:
    review = await owner.post("/admin/catalog/load/review",
                              {"format": "toml", "text": CATALOG + "\n[services.\"x.y\"]\n"
                                                                   "name = \"X\"\ncredits = 3\n"})
    form = hidden_fields(review, "/admin/catalog/load")
    form["text"] = CATALOG + '\n[services."x.y"]\nname = "X"\ncredits = 3\n'
    j.community("chat").load_catalog(CATALOG.replace("credits = 5", "credits = 6"))
    refused = await owner.post("/admin/catalog/load", form)
    assert refused.status_code == 409
    assert "The catalog changed since this review (it is now version 2)" in text_of(refused)
    assert j.community("chat").catalog().version == 2


async def test_owner_edits_one_service_through_a_review(owner: Desk, j: jeton.Jeton,
                                                        store: Store) -> None:
    form_page = await owner.get("/admin/catalog/services/files.download/edit")
    assert form_page.status_code == 200
    assert 'value="1024"' in form_page.text
    assert "are kept; change them in a catalog file" in text_of(form_page)
    values = hidden_fields(form_page)
    values |= {"name": "File download", "price_kind": "per_unit", "credits": "2",
               "unit_size": "1024", "unit": "byte", "class_credits": "vip=1",
               "money_amount": "", "money_currency": "USD", "access_level": "open",
               "any_of": "", "allowance_uses": "", "allowance_per": "",
               "allowance_after": "charge"}
    review = await owner.post("/admin/catalog/services/review", values)
    assert review.status_code == 200
    assert "Changed files.download" in text_of(review)
    save = hidden_fields(review, "/admin/catalog/services")
    done = await owner.post("/admin/catalog/services", save)
    assert done.headers["location"] == "/admin/catalog?notice=service_saved"
    twice = await owner.post("/admin/catalog/services", save)
    assert twice.headers["location"] == "/admin/catalog?notice=service_saved"
    info = j.community("chat").catalog()
    assert info.version == 2
    download = next(s for s in info.services if s.code == "files.download")
    assert (download.credits, download.class_credits) == (2, {"vip": 1})
    assert download.splits == ["party:uploader 30.00%"]  # kept
    assert [e.action for e in list_audit(store, "chat")].count("catalog.service_saved") == 1


async def test_a_new_service_with_bad_values_lists_the_problems(owner: Desk,
                                                                j: jeton.Jeton) -> None:
    values = hidden_fields(await owner.get("/admin/catalog/services/new"))
    base = {"code": "video.minute", "name": "Video", "price_kind": "fixed", "credits": "3",
            "access_level": "open"}
    taken = await owner.post("/admin/catalog/services/review",
                             {**values, **base, "code": "chat.message"})
    assert "That code is in the catalog already" in text_of(taken)
    bad = await owner.post("/admin/catalog/services/review",
                           {**values, **base, "code": "Video Minute", "class_credits": "vip"})
    assert bad.status_code == 400
    assert "is not CLASS=PRICE" in text_of(bad)
    wrong = await owner.post("/admin/catalog/services/review",
                             {**values, **base, "code": "Video Minute"})
    assert wrong.status_code == 400
    assert "The catalog would not be valid" in text_of(wrong)
    good = await owner.post("/admin/catalog/services/review", {**values, **base})
    assert "Added video.minute" in text_of(good)
    await owner.post("/admin/catalog/services", hidden_fields(good, "/admin/catalog/services"))
    assert "video.minute" in {s.code for s in j.community("chat").catalog().services}


async def test_retiring_a_service_keeps_it_marked_retired(owner: Desk, j: jeton.Jeton) -> None:
    review = await owner.get("/admin/catalog/services/chat.message/retire")
    assert review.status_code == 200
    assert "Retired chat.message" in text_of(review)
    form = hidden_fields(review, "/admin/catalog/services/chat.message/retire")
    done = await owner.post("/admin/catalog/services/chat.message/retire", form)
    assert done.headers["location"] == "/admin/catalog?notice=service_retired"
    again = await owner.post("/admin/catalog/services/chat.message/retire", form)
    assert again.headers["location"] == "/admin/catalog?notice=service_retired"
    info = j.community("chat").catalog(include_retired=True)
    assert [s.code for s in info.services if s.retired] == ["chat.message"]
    assert info.version == 2
    page = text_of(await owner.get("/admin/catalog"))
    assert page.index("Retired services and rewards") < page.rindex("chat.message")


@pytest.mark.parametrize("role", ["support", "moderator"])
async def test_only_owners_change_the_catalog(role: str, store: Store, clock: ManualClock,
                                              staff: Staff, j: jeton.Jeton) -> None:
    user = staff.support if role == "support" else staff.moderator
    async with signed_in(store, clock, user, staff.password, j) as desk:
        page = await desk.get("/admin/catalog")
        assert page.status_code == 200
        assert "Load a catalog file" not in page.text
        for path in ("/admin/catalog/load", "/admin/catalog/services/new",
                     "/admin/catalog/services/chat.message/edit",
                     "/admin/catalog/services/chat.message/retire"):
            assert (await desk.get(path)).status_code == 403, path
        for path in ("/admin/catalog/load", "/admin/catalog/load/review",
                     "/admin/catalog/services", "/admin/catalog/services/chat.message/retire"):
            refused = await desk.post(path, {"text": CATALOG, "format": "toml", "version": "1"})
            assert refused.status_code == 403, path
    assert j.community("chat").catalog().version == 1


async def test_catalog_forms_need_the_csrf_token(owner: Desk, j: jeton.Jeton) -> None:
    refused = await owner.post("/admin/catalog/services/chat.message/retire", {"version": "1"},
                               csrf=False)
    assert refused.status_code == 403
    assert j.community("chat").catalog().version == 1


async def test_a_price_change_review_replays_the_last_days_of_charges(
        owner: Desk, j: jeton.Jeton, store: Store, clock: ManualClock, staff: Staff) -> None:
    chat = j.community("chat")
    chat.create_member("ann")
    chat.create_member("ben")
    chat.grant("ann", 30, idempotency_key="g-ann")
    chat.grant("ben", 3, idempotency_key="g-ben")
    for day in range(3):  # five free messages a session, then 1 credit each
        clock.advance(timedelta(days=1))
        for n in range(6):
            chat.charge("ann", "chat.message", idempotency_key=f"ann-{day}-{n}",
                        session_id=f"s{day}")
    for n in range(6):
        chat.charge("ben", "chat.message", idempotency_key=f"ben-{n}", session_id="b")
    text = CATALOG.replace("credits = 1\nallowance", "credits = 4\nallowance")
    await owner.sign_in(staff.owner.email, staff.password)  # three days on: signed out
    review = await owner.post("/admin/catalog/load/review", {"format": "toml", "text": text})
    assert review.status_code == 200
    page = text_of(review)
    assert "The last 30 days under the new prices" in page
    # 4 paid messages (a sixth of each session) at 1 credit then, 4 each under the new price.
    assert "4 charges: 4 credits then, 16 under the new catalog (+12)." in page
    assert "1 of 2 members would be declined" in page
    services = table_rows(review, "preview-services")
    assert services == [["chat.message", "changed", "4", "4", "16", "+12", "0"]]
    members = table_rows(review, "preview-members")
    # ben has 2 credits left and his next paid message would cost 4.
    assert members[0] == ["ben", "1", "4", "+3", "chat.message 4", "2", "insufficient credits"]
    assert members[1] == ["ann", "3", "12", "+9", "chat.message 4", "27", "no"]
    preview = chat.preview_catalog(text)
    assert [s.credits_new for s in preview.services] == [16]  # the page is the API's figures
    assert chat.catalog().version == 1


def table_rows(page: httpx.Response, table_id: str) -> list[list[str]]:
    """The body rows of the table with this id, each cell's text."""
    body = page.text[page.text.index(f'id="{table_id}"'):]
    body = body[body.index("<tbody>"):body.index("</tbody>")]
    return [[html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell))).strip()
             for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]
