"""An owner sets an API key's spending budget in the dashboard and sees, on the key list, what
the key used of it; bad figures are shown back beside their field and change nothing."""

from __future__ import annotations

import pytest

import jeton
from jeton.core.clock import ManualClock
from jeton.payments.offline import DEMO_METHOD_OK
from jeton.services.access.api_keys import ApiKeys
from jeton.services.access.audit import list_audit
from jeton.store.engine import Store

from .helpers import Desk, hidden_fields, text_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def j(store: Store, clock: ManualClock) -> jeton.Jeton:
    return jeton.Jeton(store, clock=clock)


async def test_owner_sets_a_keys_budget_and_sees_what_it_used(
        owner: Desk, store: Store, clock: ManualClock, j: jeton.Jeton) -> None:
    chat = j.community("chat")
    chat.create_member("ann")
    chat.grant("ann", 500, idempotency_key="g")
    bot = ApiKeys(store, clock).create("chat", name="support bot", scopes=["charges:write"],
                                       created_by="owner")
    listing = text_of(await owner.get("/admin/api-keys"))
    assert "none" in listing
    assert "Set budget" in listing

    form = hidden_fields(await owner.get(f"/admin/api-keys/{bot.id}/budget"))
    bad = await owner.post(f"/admin/api-keys/{bot.id}/budget",
                           {**form, "period": "day", "per_key": "ten", "per_member": ""})
    assert bad.status_code == 400
    assert "Enter a number" in text_of(bad)
    assert chat.key_budget(bot.id).per_key is None

    saved = await owner.post(f"/admin/api-keys/{bot.id}/budget",
                             {**form, "period": "day", "per_key": "300", "per_member": "40"})
    assert saved.headers["location"] == "/admin/api-keys?notice=key_budget_set"
    chat.spend("ann", 25, idempotency_key="s1", actor=f"api_key:{bot.id}")
    listing = text_of(await owner.get("/admin/api-keys"))
    assert "25 of 300 per UTC day" in listing
    assert "40 per member" in listing
    assert "key_budget.changed" in [e.action for e in list_audit(store, "chat")]
    again = await owner.get(f"/admin/api-keys/{bot.id}/budget")
    assert 'value="300"' in again.text


async def test_owner_sees_a_members_recharge_target_and_alert_levels(
        owner: Desk, j: jeton.Jeton) -> None:
    chat = j.community("chat")
    chat.create_member("bea")
    chat.create_pack("20 credits", pack_id="p20", credits=20, price_minor=600)
    chat.set_payment_method("bea", provider="demo", customer_id="cus_bea",
                            payment_method_id=DEMO_METHOD_OK)
    chat.set_auto_recharge("bea", pack_id="p20", threshold=10, monthly_cap=2, target=60,
                           provider="demo")
    chat.set_low_balance_levels("bea", {"warning": 30, "critical": 5})
    text = text_of(await owner.get("/admin/members/bea"))
    assert "under 10, back to 60" in text
    assert "Low-balance alerts: warning under 30 (under it now), critical under 5 (under it now)." \
        in text
    chat.grant("bea", 40, idempotency_key="g")  # above both again: armed
    text = text_of(await owner.get("/admin/members/bea"))
    assert "Low-balance alerts: warning under 30, critical under 5." in text


async def test_owner_sees_each_plans_rollover(owner: Desk, j: jeton.Jeton) -> None:
    chat = j.community("chat")
    chat.create_plan("Pro", plan_id="pro", cycle="monthly", credits=100, price_minor=900)
    chat.create_plan("Lite", plan_id="lite", cycle="monthly", credits=10, price_minor=100)
    chat.load_catalog('[services.x]\nname = "X"\ncredits = 1\n\n'
                      '[plans.pro.rollover]\ncap = 50\ncycles = 3\n', "toml")
    text = text_of(await owner.get("/admin/plans"))
    assert "all, cap 50, 3 cycles" in text
    assert "none" in text
