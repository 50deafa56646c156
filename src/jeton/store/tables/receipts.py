"""The keys a community signs its receipts with (Ed25519), one active at a time.

The private key is stored as is, as webhook signing secrets are (tables/webhooks.py): Jeton
must read it back to sign every receipt, so it cannot be hashed. Whoever can read this table
can sign receipts in the community's name, exactly as whoever holds the key could; keep
database access and backups as private as the ledger itself, and rotate the key when in doubt.
A rotated key stays published (its public half) so that receipts signed with it still verify.
"""

from __future__ import annotations

import sqlalchemy as sa

from jeton.store.tables.base import community_id, id_col, instant, metadata

receipt_keys = sa.Table(
    "receipt_keys", metadata,
    community_id(),
    id_col("key_id"),
    sa.Column("algorithm", sa.String(16), nullable=False),  # Ed25519
    sa.Column("public_key", sa.String(64), nullable=False),  # base64url of the 32 raw bytes
    sa.Column("private_key", sa.String(64), nullable=False),  # base64url of the 32 raw bytes
    instant("created_at_us"),
    instant("retired_at_us", nullable=True),  # NULL: the key that signs now
    sa.PrimaryKeyConstraint("community_id", "key_id"),
    sa.ForeignKeyConstraint(["community_id"], ["communities.community_id"]),
    sqlite_with_rowid=False,
)

TABLES = (receipt_keys,)
