"""Baseline schema: every table of Jeton 0.x and the journal's append-only guards.

Until the first release the baseline is the schema itself (docs/decisions/0003); from then on
every change is a new revision after this one.

Revision ID: 0001
Revises:
"""

from alembic import op

from jeton.store.dialect import append_only_ddl
from jeton.store.tables import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    metadata.create_all(bind)
    for statement in append_only_ddl(bind.dialect.name):
        op.execute(statement)


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
