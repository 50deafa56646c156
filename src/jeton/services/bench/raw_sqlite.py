"""The rows of a spend written by raw `sqlite3`: the SQLite reference of `jeton bench`
(references.py) and of `scripts/spend-instructions`.

It imports nothing but the standard library, so that the instruction count of its writes is
taken in a process that has loaded nothing else, and cannot move with Jeton's code (counted in a
process that had imported Jeton, it moved between 193,000 and 211,000 from one tree to another).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SPEND_TABLES = (
    "CREATE TABLE IF NOT EXISTS raw_transfers (c TEXT, id TEXT, kind TEXT, member TEXT, "
    "amount INT, hash TEXT, PRIMARY KEY (c, id))",
    "CREATE TABLE IF NOT EXISTS raw_postings (c TEXT, id TEXT, account TEXT, amount INT, "
    "after INT, PRIMARY KEY (c, id, account))",
    "CREATE TABLE IF NOT EXISTS raw_lot_moves (c TEXT, id TEXT, lot TEXT, amount INT, "
    "PRIMARY KEY (c, id, lot))",
    "CREATE TABLE IF NOT EXISTS raw_keys (c TEXT, k TEXT, answer TEXT, PRIMARY KEY (c, k))",
    "CREATE TABLE IF NOT EXISTS raw_events (c TEXT, id TEXT, body TEXT, PRIMARY KEY (c, id))",
    "CREATE TABLE IF NOT EXISTS raw_balances (c TEXT, account TEXT, posted INT, "
    "PRIMARY KEY (c, account))",
)


def connect(path: Path, synchronous: str, checkpoint_pages: int,
            kept_bytes: int) -> sqlite3.Connection:
    """A connection in autocommit mode, WAL, `synchronous`, and the checkpoint settings of
    Jeton's own connections (passed in: this module imports nothing of Jeton's)."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute(f"PRAGMA synchronous={synchronous}")
    con.execute(f"PRAGMA wal_autocheckpoint={checkpoint_pages}")
    con.execute(f"PRAGMA journal_size_limit={kept_bytes}")
    return con


def create_tables(con: sqlite3.Connection) -> None:
    for ddl in SPEND_TABLES:
        con.execute(ddl)
    con.execute("INSERT OR IGNORE INTO raw_balances VALUES ('c', 'w', 0)")


def spend_rows(con: sqlite3.Connection, i: int) -> None:
    """What a spend writes: a transfer row, two postings, a lot move, the idempotency key, an
    event-sized row, and one balance update."""
    t = f"t{i:09d}"
    con.execute("INSERT INTO raw_transfers VALUES ('c', ?, 'spend', 'm', 1, ?)", (t, t * 2))
    con.execute("INSERT INTO raw_postings VALUES ('c', ?, 'wallet', -1, ?)", (t, -i))
    con.execute("INSERT INTO raw_postings VALUES ('c', ?, 'revenue', 1, NULL)", (t,))
    con.execute("INSERT INTO raw_lot_moves VALUES ('c', ?, 'lot', -1)", (t,))
    con.execute("INSERT INTO raw_keys VALUES ('c', ?, ?)", (t, '{"id": "' + t + '"}'))
    con.execute("INSERT INTO raw_events VALUES ('c', ?, '{}')", (t,))
    con.execute("UPDATE raw_balances SET posted = posted - 1 WHERE c = 'c' AND account = 'w'")
