"""The ledger's tables: communities, assets, members, accounts, lots, holds and the journal.

Journal tables (transfers, postings, posting_lots, seals) are append-only: the database refuses
UPDATE and DELETE on them (see store/dialect.py). Everything else here is state derived from
the journal and kept in step with it in the same transaction; `jeton verify` proves they agree.

The journal's references (a transfer's asset, a posting's transfer and account, a lot move's
transfer) are foreign keys on SQLite only. On PostgreSQL each such key, checked at every row
written, locks the row it points to FOR KEY SHARE: a WAL record for each, and on the rows
every write of a community points to (its asset, its revenue account) a MultiXact whenever
writers overlap; 14 % of the server's instructions a spend (decision 0124). There the write
path, which reads or locks every account it posts to, and `jeton verify` (its references
check) hold them.
"""

from __future__ import annotations

import sqlalchemy as sa

from jeton.store.tables.base import amount, community_id, id_col, instant, metadata


def journal_reference(columns: list[str], refcolumns: list[str]) -> sa.ForeignKeyConstraint:
    """A journal row's reference: a foreign key on SQLite, checked by `jeton verify` on
    PostgreSQL (the module's docstring)."""
    return sa.ForeignKeyConstraint(columns, refcolumns).ddl_if(dialect="sqlite")


communities = sa.Table(
    "communities", metadata,
    community_id(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("metadata_json", sa.Text, nullable=False, server_default="{}"),
    instant("created_at_us"),
    sa.PrimaryKeyConstraint("community_id"),
    sqlite_with_rowid=False,
)

assets = sa.Table(
    "assets", metadata,
    community_id(),
    sa.Column("code", sa.String(16), nullable=False),
    sa.Column("scale", sa.SmallInteger, nullable=False),
    sa.Column("name", sa.String(100), nullable=False, server_default=""),
    instant("created_at_us"),
    sa.PrimaryKeyConstraint("community_id", "code"),
    sa.ForeignKeyConstraint(["community_id"], ["communities.community_id"]),
    sa.CheckConstraint("scale >= 0 AND scale <= 9", name="scale"),
    sqlite_with_rowid=False,
)

members = sa.Table(
    "members", metadata,
    community_id(),
    id_col("member_id"),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("email", sa.String(200), nullable=True),
    sa.Column("metadata_json", sa.Text, nullable=False, server_default="{}"),
    instant("created_at_us"),
    sa.PrimaryKeyConstraint("community_id", "member_id"),
    sa.ForeignKeyConstraint(["community_id"], ["communities.community_id"]),
    sqlite_with_rowid=False,
)

# `tracked` accounts keep their balance on the row, updated under a row lock (wallets).
# Untracked accounts (revenue, issuance, breakage...) are credited by many writers at once, so
# nothing is updated on their row: their balance is a checkpoint plus the postings since.
accounts = sa.Table(
    "accounts", metadata,
    community_id(),
    id_col("account_id"),
    sa.Column("kind", sa.String(20), nullable=False),
    id_col("member_id", nullable=True),
    sa.Column("asset", sa.String(16), nullable=False),
    sa.Column("name", sa.String(100), nullable=False, server_default=""),
    sa.Column("tracked", sa.Boolean, nullable=False),
    amount("floor", nullable=True),  # lowest allowed posted - pending; NULL: no limit
    amount("posted", server_default="0"),
    amount("pending", server_default="0"),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
    instant("created_at_us"),
    sa.PrimaryKeyConstraint("community_id", "account_id"),
    sa.ForeignKeyConstraint(["community_id", "asset"], ["assets.community_id", "assets.code"]),
    sa.ForeignKeyConstraint(["community_id", "member_id"],
                            ["members.community_id", "members.member_id"]),
    sa.CheckConstraint("floor IS NULL OR posted - pending >= floor", name="floor"),
    sa.CheckConstraint("pending >= 0", name="pending"),
    sa.CheckConstraint("tracked OR (posted = 0 AND pending = 0)", name="untracked"),
    sa.Index("ix_accounts_member", "community_id", "member_id", "asset", unique=True,
             sqlite_where=sa.text("member_id IS NOT NULL"),
             postgresql_where=sa.text("member_id IS NOT NULL")),
    sqlite_with_rowid=False,
)

account_checkpoints = sa.Table(
    "account_checkpoints", metadata,
    community_id(),
    id_col("account_id"),
    amount("balance"),
    id_col("up_to_transfer_id"),  # postings of transfers with id <= this are in `balance`
    instant("at_us"),
    sa.PrimaryKeyConstraint("community_id", "account_id"),
    sqlite_with_rowid=False,
)

lots = sa.Table(
    "lots", metadata,
    community_id(),
    id_col("lot_id"),
    id_col("account_id"),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("paid", sa.Boolean, nullable=False),
    amount("cost_minor", server_default="0"),  # money paid for `amount` credits
    sa.Column("cost_currency", sa.String(16), nullable=True),
    amount("amount"),  # credits that ever came into this lot
    amount("remaining"),
    instant("expires_at_us", nullable=True),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("scope", sa.String(100), nullable=True),
    sa.Column("merge_key", sa.String(300), nullable=True),
    id_col("origin_transfer_id"),
    instant("created_at_us"),
    sa.PrimaryKeyConstraint("community_id", "lot_id"),
    sa.ForeignKeyConstraint(["community_id", "account_id"],
                            ["accounts.community_id", "accounts.account_id"]),
    sa.CheckConstraint("remaining >= 0 OR source = 'overdraft'", name="remaining"),
    sa.CheckConstraint("cost_minor >= 0", name="cost"),
    sa.Index("ix_lots_live", "community_id", "account_id",
             sqlite_where=sa.text("remaining <> 0"), postgresql_where=sa.text("remaining <> 0")),
    sa.Index("ix_lots_expiring", "community_id", "expires_at_us",
             sqlite_where=sa.text("remaining > 0 AND expires_at_us IS NOT NULL"),
             postgresql_where=sa.text("remaining > 0 AND expires_at_us IS NOT NULL")),
    sa.Index("ix_lots_merge", "community_id", "account_id", "merge_key", unique=True,
             sqlite_where=sa.text("merge_key IS NOT NULL"),
             postgresql_where=sa.text("merge_key IS NOT NULL")),
    sqlite_with_rowid=False,
)

holds = sa.Table(
    "holds", metadata,
    community_id(),
    id_col("hold_id"),
    id_col("account_id"),
    id_col("member_id"),
    sa.Column("asset", sa.String(16), nullable=False),
    amount("amount"),
    amount("captured", server_default="0"),
    amount("voided", server_default="0"),
    sa.Column("status", sa.String(16), nullable=False),  # active, captured, voided, expired
    sa.Column("service", sa.String(100), nullable=True),
    sa.Column("metadata_json", sa.Text, nullable=False, server_default="{}"),
    instant("expires_at_us"),
    instant("created_at_us"),
    instant("settled_at_us", nullable=True),
    sa.PrimaryKeyConstraint("community_id", "hold_id"),
    sa.ForeignKeyConstraint(["community_id", "account_id"],
                            ["accounts.community_id", "accounts.account_id"]),
    sa.CheckConstraint("amount > 0 AND captured >= 0 AND voided >= 0", name="amounts"),
    sa.CheckConstraint("captured + voided <= amount", name="settled"),
    sa.Index("ix_holds_active", "community_id", "expires_at_us",
             sqlite_where=sa.text("status = 'active'"),
             postgresql_where=sa.text("status = 'active'")),
    sa.Index("ix_holds_account", "community_id", "account_id"),
    sqlite_with_rowid=False,
)

# The lots a hold set aside, in spend order. `reserved - used - released` is still set aside.
hold_lots = sa.Table(
    "hold_lots", metadata,
    community_id(),
    id_col("hold_id"),
    id_col("lot_id"),
    sa.Column("seq", sa.Integer, nullable=False),
    amount("reserved"),
    amount("used", server_default="0"),
    amount("released", server_default="0"),
    sa.PrimaryKeyConstraint("community_id", "hold_id", "lot_id"),
    sa.CheckConstraint("used >= 0 AND released >= 0 AND used + released <= reserved",
                       name="reserved"),
    sqlite_with_rowid=False,
)

# ---- the journal: append-only ----

transfers = sa.Table(
    "transfers", metadata,
    community_id(),
    id_col("transfer_id"),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("asset", sa.String(16), nullable=False),
    id_col("member_id", nullable=True),  # the member the transfer is mainly about
    sa.Column("service", sa.String(100), nullable=True),
    id_col("reverses_id", nullable=True),
    id_col("hold_id", nullable=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason_code", sa.String(64), nullable=False),
    sa.Column("memo", sa.String(500), nullable=False, server_default=""),
    sa.Column("metadata_json", sa.Text, nullable=False, server_default="{}"),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    instant("effective_at_us"),  # business time (the Clock)
    instant("recorded_at_us"),  # database time
    sa.Column("hash", sa.String(64), nullable=False),
    sa.PrimaryKeyConstraint("community_id", "transfer_id"),
    journal_reference(["community_id", "asset"], ["assets.community_id", "assets.code"]),
    # Partial: only reversals carry an entry, so an ordinary spend never touches this index.
    sa.Index("ix_transfers_reverses", "community_id", "reverses_id", unique=True,
             sqlite_where=sa.text("reverses_id IS NOT NULL"),
             postgresql_where=sa.text("reverses_id IS NOT NULL")),
    # One idempotency key, one effect: a write that claimed its key writes one transfer under
    # it; writes that make several (a pack with its bonus, a purchase's payment) give the
    # others no key. The ledger's `idempotency_keys` claims the key first; this is the last
    # line if code ever wrote a second transfer under it (decision 0047).
    sa.Index("ix_transfers_idempotency_key", "community_id", "idempotency_key", unique=True,
             sqlite_where=sa.text("idempotency_key IS NOT NULL"),
             postgresql_where=sa.text("idempotency_key IS NOT NULL")),
    sqlite_with_rowid=False,
)

postings = sa.Table(
    "postings", metadata,
    community_id(),
    id_col("transfer_id"),
    id_col("account_id"),
    amount("amount"),
    amount("balance_after", nullable=True),  # tracked accounts only
    sa.Column("account_version", sa.BigInteger, nullable=True),  # tracked accounts only
    sa.PrimaryKeyConstraint("community_id", "transfer_id", "account_id"),
    journal_reference(["community_id", "transfer_id"],
                      ["transfers.community_id", "transfers.transfer_id"]),
    journal_reference(["community_id", "account_id"],
                      ["accounts.community_id", "accounts.account_id"]),
    sa.CheckConstraint("amount <> 0", name="nonzero"),
    # An untracked account's postings in transfer order: its balance is its checkpoint plus
    # the postings since (services/ledger/journal.py). A wallet's are found by version below,
    # so each wallet posting writes one index entry, not two (decision 0108).
    sa.Index("ix_postings_account", "community_id", "account_id", "transfer_id",
             sqlite_where=sa.text("account_version IS NULL"),
             postgresql_where=sa.text("account_version IS NULL")),
    # A wallet's postings in its own order: the balance at any instant is one bisection of
    # it (services/ledger/history.py, decision 0063). Untracked accounts have no version.
    sa.Index("ix_postings_version", "community_id", "account_id", "account_version",
             sqlite_where=sa.text("account_version IS NOT NULL"),
             postgresql_where=sa.text("account_version IS NOT NULL")),
    sqlite_with_rowid=False,
)

posting_lots = sa.Table(
    "posting_lots", metadata,
    community_id(),
    id_col("transfer_id"),
    id_col("lot_id"),
    id_col("account_id"),
    amount("amount"),
    sa.PrimaryKeyConstraint("community_id", "transfer_id", "lot_id"),
    journal_reference(["community_id", "transfer_id"],
                      ["transfers.community_id", "transfers.transfer_id"]),
    sqlite_with_rowid=False,
)

# Seals chain the journal after commit, a batch at a time, per community (no global hot row):
# seal n covers the transfers with ids in (seal n-1's up_to, up_to], in id order.
seals = sa.Table(
    "seals", metadata,
    community_id(),
    sa.Column("seq", sa.BigInteger, nullable=False),
    id_col("up_to_transfer_id"),
    sa.Column("transfer_count", sa.BigInteger, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    instant("sealed_at_us"),
    sa.PrimaryKeyConstraint("community_id", "seq"),
    sqlite_with_rowid=False,
)

# A rowid table on SQLite (decision 0084): its rows hold a whole answer (about 700 bytes, five
# to a page), and keys come in no order, so a table ordered by the key split a page on every
# other write; rows appended by rowid and a narrow index on the key write about two pages.
idempotency_keys = sa.Table(
    "idempotency_keys", metadata,
    community_id(),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("operation", sa.String(64), nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("response_json", sa.Text, nullable=False),
    instant("created_at_us"),
    sa.PrimaryKeyConstraint("community_id", "key"),
)

# The outbox: events written in the same transaction as the change they describe.
events = sa.Table(
    "events", metadata,
    community_id(),
    id_col("event_id"),
    sa.Column("type", sa.String(64), nullable=False),
    id_col("member_id", nullable=True),
    sa.Column("payload_json", sa.Text, nullable=False),
    instant("created_at_us"),
    sa.PrimaryKeyConstraint("community_id", "event_id"),
    sqlite_with_rowid=False,
)

JOURNAL_TABLES = ("transfers", "postings", "posting_lots", "seals")
