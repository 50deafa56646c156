"""Balance history: the index that finds a wallet's balance at any instant (issue 15).

The baseline creates the current metadata, this index included, so it is created only where it
is missing.

Revision ID: 0006
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from jeton.store.tables.ledger import postings

revision = "0006"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEX = "ix_postings_version"


def _index() -> sa.Index:
    return next(ix for ix in postings.indexes if ix.name == INDEX)


def upgrade() -> None:
    _index().create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    _index().drop(op.get_bind(), checkfirst=True)
