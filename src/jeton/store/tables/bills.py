"""Post-pay bills: what a member on a credit line used in a cycle, and paying for it (issue 17).

- `bills`: one immutable document per bill, numbered per community (`number` is unique there).
  What it says (its lines by service, the credits due, the money at the community's credit
  price, the period) is written once when it is issued; only its payment fields move after:
  `status` goes from `open` to `paid` once, `purchase_id` names the latest payment attempt (a
  purchase of kind `bill`), `failures` and `last_failure` count the attempts that failed.
  `through_transfer_id` is the last journal transfer of the wallet that the bill took in: the
  next bill starts after it.

A bill still `open` after `due_at_us` (issued + the grace period) suspends the member's credit
line (services/funding/bills.py); the suspension is not stored, it is read from these rows.
"""

from __future__ import annotations

import sqlalchemy as sa

from jeton.store.tables.base import amount, community_id, id_col, instant, metadata

BILL_STATUSES = ("open", "paid")
BILL_REASONS = ("cycle_end", "line_nearly_used", "staff")

bills = sa.Table(
    "bills", metadata,
    community_id(),
    id_col("bill_id"),
    sa.Column("number", sa.BigInteger, nullable=False),
    id_col("member_id"),
    sa.Column("asset", sa.String(16), nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("reason", sa.String(20), nullable=False),
    amount("credits_charged"),  # the sum of the lines: every charge the bill took in
    amount("credits_due"),  # what the member owed below zero and no earlier bill asks
    amount("amount_minor"),  # credits_due at the credit price, in `currency`
    sa.Column("currency", sa.String(3), nullable=False),
    amount("credit_price_minor"),  # money for one whole credit, as the setting said then
    sa.Column("lines_json", sa.Text, nullable=False),  # [{service, count, units, credits}]
    instant("period_start_us"),
    instant("period_end_us"),
    id_col("through_transfer_id", nullable=True),
    instant("issued_at_us"),
    instant("due_at_us"),
    instant("paid_at_us", nullable=True),
    id_col("purchase_id", nullable=True),
    id_col("grant_transfer_id", nullable=True),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_failure", sa.String(200), nullable=True),
    sa.Column("request_key", sa.String(255), nullable=True),
    sa.PrimaryKeyConstraint("community_id", "bill_id"),
    sa.UniqueConstraint("community_id", "number"),
    sa.UniqueConstraint("community_id", "request_key"),
    sa.ForeignKeyConstraint(["community_id", "member_id"],
                            ["members.community_id", "members.member_id"]),
    sa.CheckConstraint("status IN ('open', 'paid')", name="status"),
    sa.CheckConstraint("reason IN ('cycle_end', 'line_nearly_used', 'staff')", name="reason"),
    sa.CheckConstraint("credits_due > 0 AND amount_minor > 0 AND credits_charged >= 0 "
                       "AND credit_price_minor > 0 AND number > 0", name="amounts"),
    sa.CheckConstraint("(status = 'paid') = (paid_at_us IS NOT NULL)", name="paid"),
    sa.Index("ix_bills_member", "community_id", "member_id", "bill_id"),
    sa.Index("ix_bills_open", "community_id", "status", "due_at_us"),
)

TABLES = (bills,)
