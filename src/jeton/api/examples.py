"""Examples of every request body, shown by the interactive API docs (`/v1/docs`).

A chat community selling credits: alice downloads bob's file, buys the 50-credit pack, sends
credits to carol. Each example is a body the API accepts as it is (tests/api/test_examples.py
validates every one against its model, and checks that every request body in /openapi.json
has one). `Body` (schemas.py) looks its subclass up here by class name.
"""

from __future__ import annotations

from typing import Any

ROYALTY = {"amount": 3, "member": "bob"}

EXAMPLES: dict[str, dict[str, Any]] = {
    # ---- the operator and the community's setup ----
    "CreateCommunity": {"id": "chat", "name": "Chat room", "asset": "CREDIT", "scale": 0,
                        "key_name": "backend"},
    "AdvanceClock": {"seconds": 2_592_000},
    "CreateAsset": {"code": "POINTS", "scale": 0, "name": "Reward points"},
    "CreateAccount": {"name": "app_store_fees", "asset": "CREDIT"},
    "CreateKey": {"name": "chat-backend", "scopes": ["members:write", "charges:write"]},
    "CreateMember": {"id": "alice", "name": "Alice Liddell", "email": "alice@example.org",
                     "metadata": {"plan": "free"}},
    "SetCreditLine": {"floor": -50, "asset": "CREDIT"},
    "PingBody": {"message": "hello from the chat backend"},
    # ---- protection: frozen wallets and velocity limits ----
    "FreezeBody": {"reason": "card disputes on three purchases this week",
                   "actor": "support-lee"},
    "SetVelocityLimit": {"service": "classifieds.ad", "per_hour": 50, "per_day": 200,
                         "new_member_per_day": 40, "asset": "CREDIT"},
    "SetSpendingSettings": {"new_member_days": 7, "alert_after_trips": 3},
    # ---- post-pay bills ----
    "SetBilling": {"asset": "CREDIT", "currency": "USD", "credit_price_minor": 10,
                   "cycle": "month", "grace_days": 7, "bill_at_percent": 90},
    "IssueBill": {"asset": "CREDIT"},
    "PayBill": {"success_url": "https://chat.example/bills/paid",
                "cancel_url": "https://chat.example/bills", "save_payment_method": True},
    # ---- sub-leased areas ----
    "CreateLease": {"area": "files.lib42.", "operator": "olga", "share_bp": 2000,
                    "price_min": 1, "price_max": 30, "kinds": ["fixed"]},
    "EndLease": {"reason": "the library moved to its own site", "actor": "owner-ann"},
    "BindLeaseStaff": {"email": "olga@town.example"},
    "AreaAccess": {"level": "locked", "any_of": ["key:audio"]},
    "AreaServiceBody": {"name": "Audio book", "kind": "fixed", "credits": 4,
                        "access": {"level": "locked", "any_of": ["key:audio"]},
                        "actor": "olga"},
    "SetKeyBudget": {"period": "day", "per_key": 5000, "per_member": 200, "asset": "CREDIT"},
    # ---- the ledger ----
    "SplitBody": ROYALTY,
    "Grant": {"member": "alice", "amount": 100, "source": "reward", "paid": False,
              "expires_at": "2026-12-31T23:59:59Z", "reason_code": "poll_completed",
              "memo": "Thanks for answering the poll"},
    "Spend": {"member": "alice", "amount": 10, "service": "files.download",
              "splits": [ROYALTY], "memo": "holiday-photos.zip"},
    "SpendItem": {"member": "alice", "amount": 1, "idempotency_key": "msg-7f3a-0001",
                  "service": "chat.message"},
    "SpendBatch": {"items": [
        {"member": "alice", "amount": 1, "idempotency_key": "msg-7f3a-0001",
         "service": "chat.message"},
        {"member": "bob", "amount": 1, "idempotency_key": "msg-7f3a-0002",
         "service": "chat.message"}]},
    "Transfer": {"from_member": "alice", "to_member": "carol", "amount": 25,
                 "memo": "for the pizza"},
    "Reverse": {"reason_code": "duplicate", "memo": "The download failed; credits back"},
    "Hold": {"member": "alice", "amount": 200, "service": "video.minute", "timeout_s": 900},
    "Capture": {"amount": 140, "final": True, "memo": "7 minutes of video"},
    "Void": {"actor": "video-server"},
    # ---- charging ----
    "CheckBody": {"member": "alice", "service": "files.download", "quantity": 3000,
                  "context": {"uploader": "bob"}},
    "ChargeBody": {"member": "alice", "service": "files.download", "quantity": 3000,
                   "context": {"uploader": "bob"}, "memo": "holiday-photos.zip"},
    "StartMetered": {"member": "alice", "service": "video.minute", "estimated_quantity": 10,
                     "timeout_s": 900},
    "FinishMetered": {"actual_quantity": 7},
    "RewardBody": {"member": "alice", "reward": "polls.completed", "memo": "Poll 12"},
    "PreviewCatalog": {"catalog": '[services."files.download"]\nname = "File download"\n'
                                  'kind = "per_unit"\ncredits = 2\nunit_size = 1024\n',
                       "format": "toml", "days": 30},
    "LoadCatalog": {"catalog": '[services."files.download"]\nname = "File download"\n'
                               'kind = "per_unit"\ncredits = 1\nunit_size = 1024\n'
                               'unit = "byte"\n', "format": "toml", "dry_run": True},
    # ---- funding ----
    "EntitlementBody": {"name": "vip", "days": 30},
    "CreatePack": {"name": "50 credits", "credits": 50, "price_minor": 1500,
                   "currency": "USD", "pack_id": "p50", "bonus_credits": 5,
                   "bonus_expiry_days": 30},
    "NoBody": {},
    "BuyPack": {"member": "alice", "pack_id": "p50",
                "success_url": "https://chat.example.org/credits/thanks",
                "cancel_url": "https://chat.example.org/credits"},
    "OfflinePayment": {"reference": "check 1042", "actor": "staff:owner@example.org"},
    "RefundPurchase": {"amount_minor": 1500, "reason": "Bought twice by mistake"},
    "RefundAsCredits": {"credits": 50, "reason": "Goodwill after the outage"},
    "RefundCharge": {"reason": "The download failed"},
    "SetPaymentMethod": {"provider": "stripe", "customer_id": "cus_Q4mZ8r2KfJ1aXb",
                         "payment_method_id": "pm_1Q4mZ9LkdIwHu7ixS2b1c3d4"},
    "CreatePlan": {"name": "Monthly 100", "cycle": "monthly", "credits": 100,
                   "price_minor": 999, "currency": "USD", "plan_id": "monthly-100"},
    "Subscribe": {"member": "alice", "plan_id": "monthly-100",
                  "success_url": "https://chat.example.org/plans/thanks",
                  "cancel_url": "https://chat.example.org/plans"},
    "CancelSubscription": {"at_period_end": True},
    "SetAutoRecharge": {"pack_id": "p50", "threshold": 10, "monthly_cap": 3,
                        "enabled": True, "target": 100},
    "GrantAccess": {"name": "vip", "expires_at": "2026-12-31T23:59:59Z"},
    "CreateCoupon": {"code": "SPRING24", "credits": 25, "max_redemptions": 100,
                     "per_member_limit": 1, "expires_at": "2026-06-01T00:00:00Z"},
    "RedeemCoupon": {"member": "alice"},
    "CreateAffiliateCodes": {"count": 3},
    "SetAffiliateProgram": {"fee_per_code": 10, "credits": 20, "royalty": 5,
                            "codes_per_member_max": 5},
    "StaffPosting": {"member": "alice", "amount": 20, "actor": "owner@example.org",
                     "reason": "Charged for the ad moved to the front page"},
    "StaffGrant": {"member": "alice", "amount": 20, "actor": "owner@example.org",
                   "reason": "Sorry for the outage", "expires_at": "2026-12-31T23:59:59Z"},
    "SetSignupBonus": {"amount": 10, "expiry_days": 30},
    "SetTransferLimits": {"per_day": 100, "per_month": 1000, "fee_fixed": 0,
                          "fee_bp": 200},
    "SetRoleLimit": {"role": "moderator", "amount": 50, "period": "day"},
    # ---- webhooks and member pages ----
    "CreateEndpoint": {"url": "https://chat.example.org/hooks/jeton",
                       "event_types": ["balance.low", "charge.declined"],
                       "description": "Chat backend"},
    "UpdateEndpoint": {"event_types": ["*"], "enabled": True},
    "RotateSecret": {"grace_s": 86400},
    "LowBalanceThreshold": {"threshold": 10, "asset": "CREDIT"},
    "LowBalanceLevelsBody": {"levels": {"info": 500, "warning": 100, "critical": 20},
                             "asset": "CREDIT"},
    "CreatePortalLink": {"return_url": "https://chat.example.org/account", "ttl_s": 300},
}

# The provider webhook's body is the provider's own event, not a Jeton schema.
PROVIDER_EVENT_EXAMPLE: dict[str, Any] = {
    "id": "evt_1Q4mZ9LkdIwHu7ixAbCdEfGh", "type": "checkout.session.completed",
    "data": {"object": {"id": "cs_test_a1B2c3D4", "object": "checkout.session",
                        "payment_status": "paid"}},
}


def add_example(schema: dict[str, Any], cls: type) -> None:
    """`json_schema_extra` of `Body`: the class's example, when it has one."""
    example = EXAMPLES.get(cls.__name__)
    if example is not None:
        schema["examples"] = [example]
