"""Interactive API docs at `/docs`, working offline: Swagger UI's files are served from the
package (static/, copied from the swagger-ui-dist npm package; static/VERSIONS.txt)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PATH = "/docs/assets"


def mount_docs(app: FastAPI, *, title: str) -> None:
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC_DIR), name="api-docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=title,
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.svg",
            # No validator badge: it would be fetched from the internet.
            swagger_ui_parameters={"validatorUrl": None})
