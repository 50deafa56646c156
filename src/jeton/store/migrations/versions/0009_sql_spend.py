"""A plain spend as one SQL call: `jeton_spend`, on PostgreSQL (a distributed function on Citus,
run on the community's worker), built on 0008's functions (docs/decisions/0078).

Revision ID: 0009
Revises: 0008
"""

from alembic import op

from jeton.store import functions

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    functions.install(op.get_bind(), functions.SPEND_FUNCTIONS)


def downgrade() -> None:
    functions.uninstall(op.get_bind(), functions.DROP_SPEND_FUNCTIONS)
