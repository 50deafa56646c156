"""The in-process providers' sessions and payments in the database (decision 0090).

The demo and offline providers kept their checkout sessions, payments and saved methods in the
memory of one process, so with several server processes (`jeton serve`'s default on
PostgreSQL) a member's checkout page reached another process half the time and was not found.
`provider_state` holds them for every process. A new database has it from the baseline.

Revision ID: 0012
Revises: 0011
"""

from jeton.store.migrate import create_missing, drop_present
from jeton.store.tables.funding import provider_state

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_missing((provider_state,))


def downgrade() -> None:
    drop_present((provider_state,))
