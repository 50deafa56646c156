"""`jeton_spend` writes its transfer's hash inline instead of calling `jeton_transfer_hash`
(decision 0095): the same digest, about 25 µs less of the server's CPU per spend. The
function's signature and answers are unchanged; on Citus the replaced function stays
distributed. A new database gets it from 0009, which installs the current function.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

from jeton.store import functions

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    functions.install(op.get_bind(), functions.SPEND_FUNCTIONS)


def downgrade() -> None:
    # Nothing to undo: the function 0012 ran is the one 0009 installs, which is this one (the
    # same answers and rows; only how it computes the hash differs).
    pass
