"""The spend order in SQL: `jeton_draw_lots`, on PostgreSQL (a distributed function on Citus),
the first piece of a spend as one call on the community's worker (docs/decisions/0077).

Revision ID: 0008
Revises: 0007
"""

from alembic import op

from jeton.store import functions

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    functions.install(op.get_bind())


def downgrade() -> None:
    functions.uninstall(op.get_bind())
