"""What every dashboard request can reach: the store, the clock, the settings, the templates."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import jinja2
from fastapi import Request

from jeton.config import Settings
from jeton.core.clock import Clock
from jeton.core.errors import InvariantViolation
from jeton.store.engine import Store

_STATE_KEY = "jeton_admin"


@dataclass(frozen=True, slots=True)
class AdminContext:
    store: Store
    clock: Clock
    settings: Settings
    templates: jinja2.Environment
    # The community this dashboard serves; None: the sign-in form asks for it.
    community_id: str | None

    @property
    def cookie_secure(self) -> bool:
        """Cookies are sent over HTTPS only when the dashboard is published over HTTPS."""
        return urlsplit(self.settings.public_url).scheme == "https"

    def bind(self, request: Request) -> None:
        setattr(request.state, _STATE_KEY, self)


def admin_context(request: Request) -> AdminContext:
    """The context of the dashboard serving `request` (bound by the router's first dependency)."""
    ctx = getattr(request.state, _STATE_KEY, None)
    if not isinstance(ctx, AdminContext):
        raise InvariantViolation("an admin route was reached without its context")
    return ctx
