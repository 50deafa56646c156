"""Post-pay bills and sub-leased areas (issue 17): their tables, and `bill` among the kinds of
purchase (a bill is paid through a purchase of that kind).

The baseline creates every table of the current metadata, these included, so a new database
already has them: each is created only where it is missing, and the purchases' kind check is
replaced by the current one (the same on a new database).

Revision ID: 0006
Revises: 0005
"""

from alembic import op

from jeton.store.migrate import create_missing, drop_present
from jeton.store.tables import bills, leases

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = (*bills.TABLES, *leases.TABLES)
KINDS_NOW = "kind IN ('pack', 'recharge', 'plan', 'renewal', 'bill')"
KINDS_BEFORE = "kind IN ('pack', 'recharge', 'plan', 'renewal')"


def _purchase_kinds(condition: str) -> None:
    with op.batch_alter_table("purchases") as batch:
        batch.drop_constraint(op.f("ck_purchases_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_purchases_kind"), condition)


def upgrade() -> None:
    create_missing(TABLES)
    _purchase_kinds(KINDS_NOW)


def downgrade() -> None:
    _purchase_kinds(KINDS_BEFORE)
    drop_present(TABLES)
