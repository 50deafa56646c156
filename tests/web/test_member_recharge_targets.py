"""A member sets auto-recharge to a target and low-balance alerts at three levels on their own
recharge page; the owner sees both on the member's page in the dashboard."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from jeton.payments.offline import DEMO_METHOD_OK

from .member_support import (
    MemberBrowser,
    Shop,
    text_of,
)

pytestmark = pytest.mark.anyio


async def test_member_sets_a_target_and_alert_levels(shop: Shop, alice: MemberBrowser) -> None:
    await alice.get("/m/store")
    bought = await alice.post("/m/store/buy", {"pack_id": "starter", "key": alice.key,
                                               "save_method": "1"})
    await alice.post(urlsplit(bought.headers["location"]).path, {"action": "pay"})

    low = await alice.post("/m/recharge", {"enabled": "1", "threshold": "10",
                                           "pack_id": "starter", "monthly_cap": "3",
                                           "target": "5"})
    assert low.status_code == 400
    assert "Enter more than the threshold" in text_of(low)
    saved = await alice.post("/m/recharge", {"enabled": "1", "threshold": "10",
                                             "pack_id": "starter", "monthly_cap": "3",
                                             "target": "100"})
    assert saved.headers["location"] == "/m/recharge?notice=recharge_saved"
    info = shop.chat.get_auto_recharge("alice")
    assert info is not None
    assert info.target == 100
    words = text_of(await alice.get("/m/recharge"))
    assert "Buys enough of Starter to get back to 100 credits when under 10 credits" in words

    wrong = await alice.post("/m/recharge/alerts", {"info": "5", "warning": "50",
                                                    "critical": ""})
    assert wrong.status_code == 400
    assert "thresholds must fall" in text_of(wrong).lower()
    assert shop.chat.low_balance_levels("alice").levels == []
    done = await alice.post("/m/recharge/alerts", {"info": "50", "warning": "15",
                                                   "critical": "5"})
    assert done.headers["location"] == "/m/recharge?notice=alerts_saved"
    assert [(lv.level, lv.threshold) for lv in shop.chat.low_balance_levels("alice").levels] \
        == [("info", 50), ("warning", 15), ("critical", 5)]
    words = text_of(await alice.get("/m/recharge"))
    assert "Warning: under 15 credits" in words
    shop.chat.spend("alice", 10, idempotency_key="s1")  # 20 -> 10: info and warning sent
    words = text_of(await alice.get("/m/recharge"))
    assert "Info: under 50 credits (you are under it now" in words


async def test_member_sees_a_plans_rollover_terms(shop: Shop, alice: MemberBrowser) -> None:
    words = text_of(await alice.get("/m/plans"))
    assert "roll over" not in words
    shop.chat.load_catalog(CATALOG_WITH_ROLLOVER, "toml")
    words = text_of(await alice.get("/m/plans"))
    assert "Unused credits roll over: 50% of them, up to 20, into the next period " \
           "(at most 2 times)" in words

    # A month later, half of her 30 unused plan credits (15) are in a lot of their own.
    shop.chat.set_payment_method("alice", provider="demo", customer_id="cus_alice",
                                 payment_method_id=DEMO_METHOD_OK)
    shop.chat.subscribe("alice", "monthly", idempotency_key="alice-monthly")
    shop.clock.advance(timedelta(days=31))
    shop.chat.run_funding_jobs()
    shop.chat.run_expiry()
    assert (await alice.open(shop.link("alice"))).status_code == 303  # a new link: a new session
    words = text_of(await alice.get("/m/"))
    assert "Plan credits rolled over (the rest expired)" in words  # her history: -15
    shop.clock.advance(timedelta(days=20))  # the rolled lot now expires within 14 days
    assert (await alice.open(shop.link("alice"))).status_code == 303
    assert "Rolled over from your plan" in text_of(await alice.get("/m/"))
    assert [(lot.source, lot.remaining) for lot in shop.chat.lots("alice")
            if lot.source == "rollover"] == [("rollover", 15)]


CATALOG_WITH_ROLLOVER = """
[services."chat.message"]
name = "Chat message"
credits = 1

[plans.monthly.rollover]
share_percent = 50
cap = 20
cycles = 2
"""
