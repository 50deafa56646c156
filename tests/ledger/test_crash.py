"""A writer killed with SIGKILL mid-stream loses no acknowledged write and breaks nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jeton.store.engine import Store
from ledger_rows import check_acknowledged_kept

WRITER = r"""
import sys
import jeton
from jeton.store.engine import Store
store = Store(sys.argv[1], pg_schema=sys.argv[2] or None)
c = jeton.Jeton(store).community("crash")
i = 0
while True:
    key = f"w{i}"
    if i % 3 == 0:
        c.grant("alice", 5, idempotency_key=key)
    elif i % 3 == 1:
        c.spend("alice", 2, idempotency_key=key, splits=[{"member": "bob", "amount": 1}])
    else:
        c.transfer("bob", "alice", 1, idempotency_key=key)
    print(key, flush=True)   # acknowledged: the write has committed
    i += 1
"""


def _crash_and_check(store: Store, url: str, schema: str, tmp_path: Path) -> None:
    import jeton

    c = jeton.Jeton(store).create_community("Crash", "crash")
    c.create_member("alice")
    c.create_member("bob")
    c.grant("bob", 10, idempotency_key="seed")
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), url, schema],
                            stdout=subprocess.PIPE, text=True)
    acked: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while len(acked) < 300 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acked.append(line.strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    assert len(acked) >= 50, "the writer did not get going"
    store.dispose()
    check_acknowledged_kept(url, schema, "crash", acked)


def test_sqlite_writer_killed_mid_stream(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    store = Store(url)
    store.create_schema()
    _crash_and_check(store, url, "", tmp_path)


@pytest.mark.postgres
def test_postgres_writer_killed_mid_stream(tmp_path: Path) -> None:
    from conftest import drop_pg_store, make_pg_store, postgres_url

    store = make_pg_store()
    try:
        _crash_and_check(store, postgres_url(), store.pg_schema or "", tmp_path)
    finally:
        drop_pg_store(store)
