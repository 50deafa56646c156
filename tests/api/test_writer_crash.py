"""An HTTP server on SQLite killed with SIGKILL while it answers concurrent ledger writes loses
no write it answered: its writer answers a batch only once the batch has committed
(api/writer.py, decision 0117)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from jeton.services.bench.charging import BUYER
from jeton.services.bench.http import CONNECTIONS, prepare, start_server
from ledger_rows import check_acknowledged_kept

pytestmark = pytest.mark.timeout(120)


def test_an_http_server_killed_mid_stream_loses_no_answered_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    token = prepare(url, 20_000)  # the bench's community: a buyer with credits a connection
    proc, base = start_server(url)  # `jeton serve`, synchronous=FULL
    answered: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(w: int) -> None:
        with httpx.Client(base_url=base, timeout=30,
                          headers={"Authorization": f"Bearer {token}"}) as http:
            i = 0
            while not stop.is_set():
                key = f"c{w}-{i}"
                try:
                    got = http.post("/v1/spends", json={"member": f"{BUYER}-{w}", "amount": 1},
                                    headers={"Idempotency-Key": key})
                except httpx.HTTPError:
                    return  # the server is gone
                if got.status_code == 201:
                    with lock:
                        answered.append(key)
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
    check_acknowledged_kept(url, "", "bench", answered)
