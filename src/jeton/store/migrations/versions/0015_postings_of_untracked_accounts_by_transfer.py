"""`ix_postings_account` holds only the postings of untracked accounts (revenue, fees,
issuance): a wallet's postings are found by their version (`ix_postings_version`), so a
posting on a wallet writes one index entry, not two (decision 0108). A new database's baseline
makes the index this way already; remaking it there costs nothing.

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_INDEX = "ix_postings_account"


def upgrade() -> None:
    _remake(" WHERE account_version IS NULL")


def downgrade() -> None:
    _remake("")


def _remake(where: str) -> None:
    # Plain DDL, the same on SQLite, PostgreSQL and Citus (which passes both to every shard).
    op.execute(f"DROP INDEX IF EXISTS {_INDEX}")
    op.execute(f"CREATE INDEX {_INDEX} ON postings (community_id, account_id, transfer_id)"
               f"{where}")
