"""SQLite keeps the ledger's idempotency keys in a rowid table with an index on the key, not in a
table ordered by the key (docs/decisions/0084). Nothing changes on PostgreSQL.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_COLUMNS = """(
    community_id VARCHAR(64) NOT NULL,
    "key" VARCHAR(255) NOT NULL,
    operation VARCHAR(64) NOT NULL,
    request_hash VARCHAR(64) NOT NULL,
    response_json TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    CONSTRAINT pk_idempotency_keys PRIMARY KEY (community_id, "key")
)"""


def upgrade() -> None:
    _rebuild(without_rowid=False)


def downgrade() -> None:
    _rebuild(without_rowid=True)


def _rebuild(*, without_rowid: bool) -> None:
    """Copy the keys into a table of the other shape, in the migration's transaction."""
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    ddl = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'idempotency_keys'"
    ).scalar_one()
    if ("WITHOUT ROWID" in ddl.upper()) == without_rowid:
        return  # made at this shape already (a new database's baseline is today's metadata)
    suffix = " WITHOUT ROWID" if without_rowid else ""
    conn.exec_driver_sql(f"CREATE TABLE idempotency_keys_rebuilt {_COLUMNS}{suffix}")
    conn.exec_driver_sql("INSERT INTO idempotency_keys_rebuilt SELECT community_id, \"key\", "
                         "operation, request_hash, response_json, created_at_us "
                         "FROM idempotency_keys")
    conn.exec_driver_sql("DROP TABLE idempotency_keys")
    conn.exec_driver_sql("ALTER TABLE idempotency_keys_rebuilt RENAME TO idempotency_keys")
