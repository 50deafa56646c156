"""Getting credits into wallets: member classes and keys, packs, purchases, refunds, plans and
subscriptions, auto-recharge, coupons, staff posting limits and the community's funding settings.

The ledger (tables/ledger.py) holds the money and the credits; these tables hold what was sold,
promised and claimed, and the guards that make each grant happen once:

- `provider_events`: one row per provider event id, so a replayed webhook changes nothing;
- `purchases.status`: moved to `completed` by a conditional update in the granting transaction;
- `subscription_cycles`: one row per (subscription, cycle), so a cycle is granted once;
- `recharge_claims`: at most one row per wallet, so at most one recharge is in flight;
- `coupon_redemptions`: (coupon, member, n) unique, so a member redeems at most the limit.

`provider_state` is the in-process providers' own memory (demo and offline), kept here so
every server process sees the same checkout sessions and payments.

Jeton keeps provider ids and tokens only (`cus_…`, `pm_…`, `pi_…`), never card data.
"""

from __future__ import annotations

import sqlalchemy as sa

from jeton.store.tables.base import amount, community_id, id_col, instant, metadata

# ---- member classes and keys (read by the access rules of charging) ----

member_classes = sa.Table(
    "member_classes", metadata,
    community_id(),
    id_col("member_id"),
    sa.Column("class", sa.String(64), nullable=False),
    instant("expires_at_us", nullable=True),  # NULL: for good
    sa.Column("source", sa.String(32), nullable=False, server_default="grant"),
    instant("granted_at_us"),
    sa.PrimaryKeyConstraint("community_id", "member_id", "class"),
    sa.ForeignKeyConstraint(["community_id", "member_id"],
                            ["members.community_id", "members.member_id"]),
)

member_keys = sa.Table(
    "member_keys", metadata,
    community_id(),
    id_col("member_id"),
    sa.Column("key", sa.String(64), nullable=False),
    instant("expires_at_us", nullable=True),
    sa.Column("source", sa.String(32), nullable=False, server_default="grant"),
    instant("granted_at_us"),
    sa.PrimaryKeyConstraint("community_id", "member_id", "key"),
    sa.ForeignKeyConstraint(["community_id", "member_id"],
                            ["members.community_id", "members.member_id"]),
)

# ---- settings: sign-up bonus, transfer limits, role limits, affiliate program ----

funding_settings = sa.Table(
    "funding_settings", metadata,
    community_id(),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("value_json", sa.Text, nullable=False),
    instant("updated_at_us"),
    sa.PrimaryKeyConstraint("community_id", "name"),
    sa.ForeignKeyConstraint(["community_id"], ["communities.community_id"]),
)

# ---- packs and purchases ----

packs = sa.Table(
    "packs", metadata,
    community_id(),
    id_col("pack_id"),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("asset", sa.String(16), nullable=False),
    amount("credits"),
    amount("price_minor"),
    sa.Column("currency", sa.String(3), nullable=False),
    amount("bonus_credits", server_default="0"),
    sa.Column("bonus_expiry_days", sa.Integer, nullable=True),
    sa.Column("credit_expiry_days", sa.Integer, nullable=True),
    sa.Column("classes_json", sa.Text, nullable=False, server_default="[]"),
    sa.Column("keys_json", sa.Text, nullable=False, server_default="[]"),
    sa.Column("visible_to_json", sa.Text, nullable=False, server_default="[]"),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("sort_order", sa.Integer, nullable=False, server_default="0"),
    instant("created_at_us"),
    sa.PrimaryKeyConstraint("community_id", "pack_id"),
    sa.ForeignKeyConstraint(["community_id", "asset"], ["assets.community_id", "assets.code"]),
    sa.CheckConstraint("credits > 0 AND price_minor > 0 AND bonus_credits >= 0", name="amounts"),
)

PURCHASE_KINDS = ("pack", "recharge", "plan", "renewal", "bill")
PURCHASE_STATUSES = ("pending", "charging", "processing", "completed", "failed", "expired")

purchases = sa.Table(
    "purchases", metadata,
    community_id(),
    id_col("purchase_id"),
    id_col("member_id"),
    sa.Column("kind", sa.String(16), nullable=False),
    id_col("pack_id", nullable=True),
    id_col("subscription_id", nullable=True),
    sa.Column("cycle_no", sa.Integer, nullable=True),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("description", sa.String(250), nullable=False),
    sa.Column("asset", sa.String(16), nullable=False),
    amount("credits"),
    amount("bonus_credits", server_default="0"),
    amount("amount_minor"),
    sa.Column("currency", sa.String(3), nullable=False),
    # What the purchase grants besides credits, frozen when it was made (expiry days, classes,
    # keys), so that editing a pack never changes a purchase already under way.
    sa.Column("offer_json", sa.Text, nullable=False, server_default="{}"),
    sa.Column("request_key", sa.String(255), nullable=True),
    sa.Column("session_id", sa.String(255), nullable=True),
    sa.Column("checkout_url", sa.String(2048), nullable=True),
    sa.Column("payment_id", sa.String(255), nullable=True),
    sa.Column("customer_id", sa.String(255), nullable=True),
    sa.Column("payment_method_id", sa.String(255), nullable=True),
    sa.Column("reference", sa.String(200), nullable=True),  # offline: "check 1042"
    sa.Column("failure_reason", sa.String(200), nullable=True),
    amount("refunded_minor", server_default="0"),  # money refunded, in cash or as credits
    amount("credits_taken_back", server_default="0"),
    id_col("grant_transfer_id", nullable=True),
    id_col("bonus_transfer_id", nullable=True),
    id_col("money_transfer_id", nullable=True),
    instant("created_at_us"),
    instant("completed_at_us", nullable=True),
    instant("expires_at_us", nullable=True),  # a pending purchase is abandoned after this
    sa.PrimaryKeyConstraint("community_id", "purchase_id"),
    sa.UniqueConstraint("community_id", "request_key"),
    sa.ForeignKeyConstraint(["community_id", "member_id"],
                            ["members.community_id", "members.member_id"]),
    sa.CheckConstraint("kind IN ('pack', 'recharge', 'plan', 'renewal', 'bill')", name="kind"),
    sa.CheckConstraint("status IN ('pending', 'charging', 'processing', 'completed', 'failed', "
                       "'expired')", name="status"),
    sa.CheckConstraint("amount_minor > 0 AND credits >= 0 AND bonus_credits >= 0", name="amounts"),
    sa.CheckConstraint("refunded_minor >= 0 AND refunded_minor <= amount_minor", name="refunded"),
    sa.CheckConstraint("credits_taken_back >= 0", name="taken_back"),
    sa.Index("ix_purchases_member", "community_id", "member_id", "purchase_id"),
    sa.Index("ix_purchases_open", "community_id", "status", "expires_at_us"),
    sa.Index("ix_purchases_payment", "community_id", "provider", "payment_id"),
)

# One row per provider event: the unique key that makes a replayed webhook change nothing.
provider_events = sa.Table(
    "provider_events", metadata,
    community_id(),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("event_id", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    id_col("purchase_id", nullable=True),
    sa.Column("outcome", sa.String(32), nullable=False),
    instant("received_at_us"),
    sa.PrimaryKeyConstraint("community_id", "provider", "event_id"),
)

# What the in-process providers (demo, offline) know, shared by every process serving the
# database (decision 0090): their checkout sessions, payments, saved methods and the answers of
# their keyed charges and refunds, as JSON by (provider, kind, key). A session changes by a
# compare-and-set of its JSON, so two processes never both complete one. `community_id` is
# the record's community ('' for none), which Citus distributes by.
provider_state = sa.Table(
    "provider_state", metadata,
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("key", sa.String(300), nullable=False),
    community_id(),
    sa.Column("value_json", sa.Text, nullable=False),
    instant("updated_at_us"),
    sa.PrimaryKeyConstraint("provider", "kind", "key", "community_id"),
)

refunds = sa.Table(
    "refunds", metadata,
    community_id(),
    id_col("refund_id"),
    id_col("purchase_id"),
    sa.Column("kind", sa.String(16), nullable=False),  # cash, credits, external, dispute
    sa.Column("status", sa.String(16), nullable=False),  # pending, succeeded, failed
    amount("amount_minor"),
    sa.Column("currency", sa.String(3), nullable=False),
    amount("credits_taken", server_default="0"),
    amount("credits_given", server_default="0"),
    sa.Column("request_key", sa.String(255), nullable=True),
    sa.Column("provider_refund_id", sa.String(255), nullable=True),
    id_col("take_transfer_id", nullable=True),
    id_col("give_transfer_id", nullable=True),
    id_col("money_transfer_id", nullable=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False, server_default=""),
    sa.Column("failure_reason", sa.String(200), nullable=True),
    instant("created_at_us"),
    instant("settled_at_us", nullable=True),
    sa.PrimaryKeyConstraint("community_id", "refund_id"),
    sa.UniqueConstraint("community_id", "request_key"),
    sa.CheckConstraint("kind IN ('cash', 'credits', 'external', 'dispute')", name="kind"),
    sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
    sa.CheckConstraint("amount_minor >= 0 AND credits_taken >= 0 AND credits_given >= 0",
                       name="amounts"),
    sa.Index("ix_refunds_purchase", "community_id", "purchase_id"),
)

# The member's customer and saved payment method at a provider (tokens, never card data).
billing_profiles = sa.Table(
    "billing_profiles", metadata,
    community_id(),
    id_col("member_id"),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("customer_id", sa.String(255), nullable=True),
    sa.Column("payment_method_id", sa.String(255), nullable=True),
    instant("updated_at_us"),
    sa.PrimaryKeyConstraint("community_id", "member_id", "provider"),
    sa.ForeignKeyConstraint(["community_id", "member_id"],
                            ["members.community_id", "members.member_id"]),
)

# ---- plans and subscriptions ----

plans = sa.Table(
    "plans", metadata,
    community_id(),
    id_col("plan_id"),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("cycle", sa.String(16), nullable=False),
    sa.Column("asset", sa.String(16), nullable=False),
    amount("credits"),
    amount("price_minor"),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("class", sa.String(64), nullable=True),  # held for each paid cycle
    # Off the price of every charge while a cycle runs, in basis points (charging asks).
    sa.Column("discount_bp", sa.Integer, nullable=False, server_default="0"),
    sa.Column("active", sa.Boolean, nullable=False),
    instant("created_at_us"),
    sa.PrimaryKeyConstraint("community_id", "plan_id"),
    sa.ForeignKeyConstraint(["community_id", "asset"], ["assets.community_id", "assets.code"]),
    sa.CheckConstraint("credits >= 0 AND price_minor >= 0", name="amounts"),
    sa.CheckConstraint("discount_bp >= 0 AND discount_bp <= 10000", name="discount"),
)

SUBSCRIPTION_STATUSES = ("incomplete", "scheduled", "active", "past_due", "canceled")
LIVE_SUBSCRIPTION_STATUSES = ("incomplete", "scheduled", "active", "past_due")

subscriptions = sa.Table(
    "subscriptions", metadata,
    community_id(),
    id_col("subscription_id"),
    id_col("member_id"),
    id_col("plan_id"),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    instant("anchor_at_us"),  # start of cycle 0
    instant("cancel_at_us", nullable=True),  # canceled at period end: the end it stops at
    sa.Column("failed_attempts", sa.Integer, nullable=False, server_default="0"),
    instant("next_action_at_us", nullable=True),  # when the renewal job looks at it again
    sa.Column("request_key", sa.String(255), nullable=True),
    sa.Column("end_reason", sa.String(64), nullable=True),
    instant("created_at_us"),
    instant("ended_at_us", nullable=True),
    sa.PrimaryKeyConstraint("community_id", "subscription_id"),
    sa.UniqueConstraint("community_id", "request_key"),
    sa.ForeignKeyConstraint(["community_id", "member_id"],
                            ["members.community_id", "members.member_id"]),
    sa.ForeignKeyConstraint(["community_id", "plan_id"], ["plans.community_id", "plans.plan_id"]),
    sa.CheckConstraint("status IN ('incomplete', 'scheduled', 'active', 'past_due', 'canceled')",
                       name="status"),
    sa.Index("ix_subscriptions_due", "community_id", "next_action_at_us"),
    sa.Index("ix_subscriptions_member", "community_id", "member_id"),
)

subscription_cycles = sa.Table(
    "subscription_cycles", metadata,
    community_id(),
    id_col("subscription_id"),
    sa.Column("cycle_no", sa.Integer, nullable=False),
    instant("start_at_us"),
    instant("end_at_us"),
    sa.Column("status", sa.String(16), nullable=False),  # unpaid, paid, granted, skipped
    id_col("purchase_id", nullable=True),
    id_col("transfer_id", nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    instant("next_attempt_at_us", nullable=True),
    instant("created_at_us"),
    sa.PrimaryKeyConstraint("community_id", "subscription_id", "cycle_no"),
    sa.CheckConstraint("status IN ('unpaid', 'paid', 'granted', 'skipped')", name="status"),
)

# ---- auto-recharge ----

auto_recharge = sa.Table(
    "auto_recharge", metadata,
    community_id(),
    id_col("member_id"),
    sa.Column("asset", sa.String(16), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    amount("threshold"),
    id_col("pack_id"),
    sa.Column("monthly_cap", sa.Integer, nullable=False),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # ok, failed, cap_reached
    sa.Column("last_error", sa.String(200), nullable=True),
    sa.Column("month_key", sa.Integer, nullable=False, server_default="0"),  # 202601
    sa.Column("month_count", sa.Integer, nullable=False, server_default="0"),
    instant("updated_at_us"),
    # Buy enough of the pack to bring the balance back to this (NULL: one pack). Migration 0005.
    amount("target", nullable=True),
    sa.PrimaryKeyConstraint("community_id", "member_id", "asset"),
    sa.ForeignKeyConstraint(["community_id", "member_id"],
                            ["members.community_id", "members.member_id"]),
    sa.CheckConstraint("threshold >= 0 AND monthly_cap >= 0 AND month_count >= 0",
                       name="values"),
)

# At most one recharge in flight per wallet: the primary key is the claim.
recharge_claims = sa.Table(
    "recharge_claims", metadata,
    community_id(),
    id_col("member_id"),
    sa.Column("asset", sa.String(16), nullable=False),
    id_col("claim_id"),
    sa.Column("state", sa.String(16), nullable=False),  # pending, charging
    id_col("purchase_id", nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    instant("next_attempt_at_us"),
    instant("created_at_us"),
    sa.PrimaryKeyConstraint("community_id", "member_id", "asset"),
    sa.CheckConstraint("state IN ('pending', 'charging')", name="state"),
    sa.Index("ix_recharge_claims_due", "community_id", "next_attempt_at_us"),
)

# ---- coupons ----

coupons = sa.Table(
    "coupons", metadata,
    community_id(),
    sa.Column("code", sa.String(64), nullable=False),  # stored in capitals
    sa.Column("kind", sa.String(16), nullable=False),  # promo, affiliate
    sa.Column("asset", sa.String(16), nullable=False),
    amount("credits", server_default="0"),
    sa.Column("credit_expiry_days", sa.Integer, nullable=True),
    sa.Column("classes_json", sa.Text, nullable=False, server_default="[]"),
    sa.Column("keys_json", sa.Text, nullable=False, server_default="[]"),
    sa.Column("max_redemptions", sa.BigInteger, nullable=True),  # NULL: no total limit
    sa.Column("per_member_limit", sa.Integer, nullable=False, server_default="1"),
    sa.Column("redeemed_count", sa.BigInteger, nullable=False, server_default="0"),
    instant("expires_at_us", nullable=True),
    sa.Column("active", sa.Boolean, nullable=False),
    id_col("owner_member_id", nullable=True),  # affiliate codes: who earns the royalty
    amount("royalty", server_default="0"),
    instant("created_at_us"),
    sa.PrimaryKeyConstraint("community_id", "code"),
    sa.ForeignKeyConstraint(["community_id", "asset"], ["assets.community_id", "assets.code"]),
    sa.CheckConstraint("kind IN ('promo', 'affiliate')", name="kind"),
    sa.CheckConstraint("max_redemptions IS NULL OR redeemed_count <= max_redemptions",
                       name="redeemed"),
    sa.CheckConstraint("per_member_limit >= 1 AND credits >= 0 AND royalty >= 0",
                       name="values"),
    sa.Index("ix_coupons_owner", "community_id", "owner_member_id"),
)

coupon_redemptions = sa.Table(
    "coupon_redemptions", metadata,
    community_id(),
    sa.Column("code", sa.String(64), nullable=False),
    id_col("member_id"),
    sa.Column("seq", sa.Integer, nullable=False),  # the member's n-th redemption of the code
    id_col("redemption_id"),
    id_col("transfer_id", nullable=True),
    id_col("royalty_transfer_id", nullable=True),
    instant("redeemed_at_us"),
    sa.PrimaryKeyConstraint("community_id", "code", "member_id", "seq"),
)

# ---- staff posting limits ----

# Credits a staff user posted (granted or charged by hand) in one period: what a role limit
# is checked against, with a conditional update.
staff_posting_usage = sa.Table(
    "staff_posting_usage", metadata,
    community_id(),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("asset", sa.String(16), nullable=False),
    sa.Column("period_key", sa.String(16), nullable=False),  # 2026-01-15, 2026-W03, 2026-01
    amount("amount_used"),
    sa.PrimaryKeyConstraint("community_id", "actor", "asset", "period_key"),
    sa.CheckConstraint("amount_used >= 0", name="used"),
)

# ---- rollover (services/funding/rollover.py, migration 0007) ----

# The lots a plan's cycles granted or rolled, so that expiry can find their plan: the lot, its
# subscription and cycle, and how many times its credits have rolled already (0: the cycle's
# own grant). Rows of lots that are spent or expired stay: they are the history of the rolls.
plan_credit_lots = sa.Table(
    "plan_credit_lots", metadata,
    community_id(),
    id_col("lot_id"),
    id_col("subscription_id"),
    id_col("plan_id"),
    sa.Column("cycle_no", sa.Integer, nullable=False),
    sa.Column("rolls", sa.Integer, nullable=False),
    instant("created_at_us"),
    sa.PrimaryKeyConstraint("community_id", "lot_id"),
    sa.CheckConstraint("rolls >= 0", name="rolls"),
)
