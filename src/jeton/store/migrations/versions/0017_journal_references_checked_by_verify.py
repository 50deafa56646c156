"""On PostgreSQL the journal's four foreign keys go (a transfer's asset, a posting's transfer and
account, a lot move's transfer): each locked the row it names FOR KEY SHARE at every row
written, a WAL record each and a MultiXact on a community's asset and revenue rows whenever
writers overlapped, 14 % of the server's instructions a spend (decision 0124). The write path
reads or locks every account it posts to, and `jeton verify` checks the references. SQLite keeps
them (its check is an index lookup, no lock, no write); a new PostgreSQL database never has them.
On Citus the ALTER TABLE reaches every shard.

Revision ID: 0017
Revises: 0016
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# (table, name, columns, the table and columns named), as the baseline made them.
_REFERENCES = (
    ("transfers", "fk_transfers_community_id_asset_assets", "community_id, asset",
     "assets (community_id, code)"),
    ("postings", "fk_postings_community_id_transfer_id_transfers", "community_id, transfer_id",
     "transfers (community_id, transfer_id)"),
    ("postings", "fk_postings_community_id_account_id_accounts", "community_id, account_id",
     "accounts (community_id, account_id)"),
    ("posting_lots", "fk_posting_lots_community_id_transfer_id_transfers",
     "community_id, transfer_id", "transfers (community_id, transfer_id)"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name, _, _ in _REFERENCES:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name, columns, target in _REFERENCES:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({columns}) "
                   f"REFERENCES {target}")
