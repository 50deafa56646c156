"""`jeton_spend` updates the one lot a spend nearly always draws by its key, not by
`lot_id = ANY (array)`, which PostgreSQL could plan anew on every call (decision 0100): the
same rows and answers, and no planning inside a spend. The signature is unchanged;
on Citus the replaced function stays distributed. A new database gets it from 0009, which
installs the current function.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

from jeton.store import functions

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    functions.install(op.get_bind(), functions.SPEND_FUNCTIONS)


def downgrade() -> None:
    # Nothing to undo: the function 0013 ran is the one 0009 installs, which is this one (the
    # same rows and answers; only how the lot's update is planned differs).
    pass
