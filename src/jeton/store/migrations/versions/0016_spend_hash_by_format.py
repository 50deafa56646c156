"""`jeton_spend` writes its transfer's hash text with one `format()` call instead of a chain of
`||`, and the answer's one lot move without a subquery (decision 0122): the same rows and
answers, about 6 % less of PostgreSQL's work a spend (`scripts/postgres-instructions`). The
signature is unchanged; on Citus the replaced function stays distributed. A new database gets
it from 0009, which installs the current function.

Revision ID: 0016
Revises: 0015
"""

from alembic import op

from jeton.store import functions

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    functions.install(op.get_bind(), functions.SPEND_FUNCTIONS)


def downgrade() -> None:
    # Nothing to undo: the function 0015 ran is the one 0009 installs, which is this one (the
    # same rows and answers; only how its hash text and answer are built differs).
    pass
