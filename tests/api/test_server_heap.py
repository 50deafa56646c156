"""A serving process sets what start-up built aside from the garbage collector
(`jeton.api.server.keep_startup_objects`): full collections under load walk only what requests
made, not the app's own ~200,000 objects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from jeton.api import server

_WORKER = """
import gc
from jeton.api.app import app_from_env
before = gc.get_freeze_count()
app_from_env()
print(before, gc.get_freeze_count(), len(gc.get_objects()))
"""


def test_a_worker_process_freezes_the_objects_its_start_up_built(tmp_path: Path) -> None:
    env = {**os.environ, "JETON_DATABASE_URL": f"sqlite:///{tmp_path / 'jeton.db'}"}
    subprocess.run([sys.executable, "-m", "jeton.cli", "migrate"], env=env, check=True,
                   capture_output=True, timeout=120)
    done = subprocess.run([sys.executable, "-c", _WORKER], env=env, check=True,
                          capture_output=True, text=True, timeout=120)
    before, frozen, left = (int(x) for x in done.stdout.split())
    assert before == 0
    assert frozen > 50_000  # the modules, the app, its routes and schemas
    assert left < frozen // 5  # what the collector still walks is a small part of it


def test_one_serving_process_freezes_before_it_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    done: list[str] = []
    monkeypatch.setattr(server, "keep_startup_objects", lambda: done.append("freeze"))
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: done.append("serve"))
    server.serve(server.server_config(FastAPI()))
    assert done == ["freeze", "serve"]
