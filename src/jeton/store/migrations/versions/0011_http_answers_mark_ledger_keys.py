"""Every answer the HTTP layer keeps for a community leaves a marker under its key among the
ledger's idempotency keys, so that a ledger write reusing the key is refused without the HTTP
layer reading its kept answers first (docs/decisions/0086). This copies a marker for each
answer kept before.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The operation `services/ledger/http_idempotency.py` writes (HTTP_ANSWER), as of this revision.
_SELECT = """SELECT h.community_id, h.key, 'http_answer', h.request_sha256, 'null', h.created_at_us
  FROM http_idempotency h WHERE h.community_id <> '~operator'"""
_COLUMNS = "(community_id, key, operation, request_hash, response_json, created_at_us)"


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"INSERT OR IGNORE INTO idempotency_keys {_COLUMNS} {_SELECT}")
    else:
        conn.exec_driver_sql(f"INSERT INTO idempotency_keys {_COLUMNS} {_SELECT} "
                             "ON CONFLICT (community_id, key) DO NOTHING")


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "DELETE FROM idempotency_keys WHERE operation = 'http_answer'")
