"""Capped rollover, auto-recharge to a target, low-balance levels, API key budgets (issue 15).

The baseline creates every table and column of the current metadata, so a new database
already has these: each table is created only where it is missing, each column added only
where its table lacks it.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from jeton.store.migrate import create_missing, drop_present
from jeton.store.tables.catalog import catalog_plan_terms
from jeton.store.tables.funding import plan_credit_lots
from jeton.store.tables.protection import BUDGET_TABLES
from jeton.store.tables.webhooks import balance_alert_levels

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = (*BUDGET_TABLES, balance_alert_levels, catalog_plan_terms, plan_credit_lots)
# (table, column) added to tables that existed before.
COLUMNS: tuple[tuple[str, sa.Column[object]], ...] = (
    ("auto_recharge", sa.Column("target", sa.BigInteger, nullable=True)),
)


def upgrade() -> None:
    create_missing(TABLES)
    inspector = sa.inspect(op.get_bind())
    for table_name, column in COLUMNS:
        if column.name not in {c["name"] for c in inspector.get_columns(table_name)}:
            op.add_column(table_name, column)


def downgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table_name, column in reversed(COLUMNS):
        if column.name in {c["name"] for c in inspector.get_columns(table_name)}:
            op.drop_column(table_name, column.name)
    drop_present(TABLES)
