"""The HTTP API under `/v1`: `create_app(jeton)` (see docs.md for how to add an endpoint)."""

from jeton.api.app import create_app, mount_web

__all__ = ["create_app", "mount_web"]
