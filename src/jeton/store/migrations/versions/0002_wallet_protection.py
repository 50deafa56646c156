"""Wallet protection: freezes, velocity limits, their counters and trips (issue 17).

The baseline creates every table of the current metadata, these included, so a new database
already has them: each is created only where it is missing.

Revision ID: 0002
Revises: 0001
"""

from jeton.store.migrate import create_missing, drop_present
from jeton.store.tables.protection import TABLES

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_missing(TABLES)


def downgrade() -> None:
    drop_present(TABLES)
