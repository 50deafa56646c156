"""An HTTP server killed with SIGKILL while it answers concurrent ledger writes loses no write
it answered: its writer answers a batch only once the batch has committed (api/writer.py,
decision 0117 on SQLite, 0119 on PostgreSQL, where the server's one process dies with its
batch's transaction open, and its charges are made together, decision 0120)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from conftest import postgres_url
from jeton.services.bench.charging import BUYER, DOWNLOAD_BYTES, UPLOADER
from jeton.services.bench.http import CONNECTIONS, prepare, start_server
from jeton.store.engine import normalize_url
from ledger_rows import check_acknowledged_kept

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new SQLite file, or a new PostgreSQL database (the server makes its schema)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crash.db'}"
        return
    name = f"jeton_crash_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(normalize_url(postgres_url()), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield sa.make_url(postgres_url()).set(database=name).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def test_an_http_server_killed_mid_stream_loses_no_answered_write(database_url: str) -> None:
    url = database_url
    token = prepare(url, 20_000)  # the bench's community: a buyer with credits a connection
    # `jeton serve` in one process (SQLite's default; on PostgreSQL SIGKILL of the parent of
    # several would leave its workers serving), synchronous=FULL on SQLite
    proc, base = start_server(url, workers=1)
    answered: list[str] = []
    kinds: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def client(w: int) -> None:
        with httpx.Client(base_url=base, timeout=30,
                          headers={"Authorization": f"Bearer {token}"}) as http:
            i = 0
            while not stop.is_set():
                key = f"c{w}-{i}"
                # Half the connections charge through the catalog: on PostgreSQL the charges
                # waiting together are made together (decision 0120).
                path, body = ("/v1/spends", {"member": f"{BUYER}-{w}", "amount": 1}) if w % 2 else (
                    "/v1/charges", {"member": f"{BUYER}-{w}", "service": "bench.download",
                                    "quantity": DOWNLOAD_BYTES,
                                    "context": {"uploader": f"{UPLOADER}-{w}"}})
                try:
                    got = http.post(path, json=body, headers={"Idempotency-Key": key})
                except httpx.HTTPError:
                    return  # the server is gone
                if got.status_code == 201:
                    with lock:
                        answered.append(key)
                        kinds.add(path)
                i += 1

    clients = [threading.Thread(target=client, args=(w,)) for w in range(CONNECTIONS)]
    for t in clients:
        t.start()
    deadline = time.monotonic() + 30
    while len(answered) < 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()  # SIGKILL, with requests under way
    proc.wait(timeout=10)
    stop.set()
    for t in clients:
        t.join()
    assert len(answered) >= 300, "the server did not get going"
    assert kinds == {"/v1/spends", "/v1/charges"}
    check_acknowledged_kept(url, "", "bench", answered)
