"""Gamification: rules, the awarding cursor, progress, awards and leaderboards (issue 17).

The baseline creates every table of the current metadata, these included, so a new database
already has them: each is created only where it is missing.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from jeton.store.tables.achievements import TABLES

revision = "0005"
down_revision = "0004"
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
