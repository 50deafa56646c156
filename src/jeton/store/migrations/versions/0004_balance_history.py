"""Issue 15: the index that finds a wallet's balance at any instant, and the keys that sign
receipts.

The baseline creates the current metadata, these included, so each is created only where it is
missing.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from jeton.store.migrate import create_missing, drop_present
from jeton.store.tables.ledger import postings
from jeton.store.tables.receipts import TABLES

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEX = "ix_postings_version"


def _index() -> sa.Index:
    return next(ix for ix in postings.indexes if ix.name == INDEX)


def upgrade() -> None:
    bind = op.get_bind()
    _index().create(bind, checkfirst=True)
    create_missing(TABLES)


def downgrade() -> None:
    drop_present(TABLES)
    _index().drop(op.get_bind(), checkfirst=True)
