"""Test clocks: the time of a community created in test mode (issue 13, decision 0056).

The baseline creates every table of the current metadata, this one included, so a new database
already has it: it is created only where it is missing.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from jeton.store.tables.clocks import TABLES

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        table.create(bind, checkfirst=True)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(TABLES):
        table.drop(bind, checkfirst=True)
