"""Test clocks: the time of a community created in test mode (issue 13, decision 0056).

The baseline creates every table of the current metadata, this one included, so a new database
already has it: it is created only where it is missing.

Revision ID: 0003
Revises: 0002
"""

from jeton.store.migrate import create_missing, drop_present
from jeton.store.tables.clocks import TABLES

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_missing(TABLES)


def downgrade() -> None:
    drop_present(TABLES)
