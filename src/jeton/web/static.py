"""The dashboard's bundled assets (our CSS and scripts, vendored htmx and Chart.js)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


def mount_static(app: FastAPI) -> None:
    """Serve the bundled assets at `/static` (route name `static`, which templates link to)."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
