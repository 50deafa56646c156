"""Gamification: rules, the awarding cursor, progress, awards and leaderboards (issue 17).

The baseline creates every table of the current metadata, these included, so a new database
already has them: each is created only where it is missing.

Revision ID: 0005
Revises: 0004
"""

from jeton.store.migrate import create_missing, drop_present
from jeton.store.tables.achievements import TABLES

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_missing(TABLES)


def downgrade() -> None:
    drop_present(TABLES)
