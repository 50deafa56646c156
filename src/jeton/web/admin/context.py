"""What every dashboard request can reach: the Jeton (store, clock, settings), the templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import jinja2
from fastapi import Request

from jeton.app import Community, Jeton
from jeton.config import Settings
from jeton.core import limits
from jeton.core.clock import Clock
from jeton.core.errors import InvariantViolation
from jeton.core.ratelimit import RateLimiter
from jeton.services.access.staff import StaffSession
from jeton.services.ledger.results import AssetInfo
from jeton.store.engine import Store

DEFAULT_ASSET = "CREDIT"
_STATE_KEY = "jeton_admin"
_STAFF_KEY = "jeton_staff"
_COOKIE_SEEN_KEY = "jeton_staff_cookie_seen"


@dataclass(frozen=True, slots=True)
class AdminContext:
    store: Store
    clock: Clock
    settings: Settings
    templates: jinja2.Environment
    # The community this dashboard serves; None: the sign-in form asks for it.
    community_id: str | None
    # The services pages call (`Community` methods and the modules that take a Jeton).
    jeton: Jeton
    # Sign-in attempts per client address (limits.staff_sign_in_burst_per_address).
    sign_in_attempts: RateLimiter = field(default_factory=lambda: RateLimiter(
        1 / limits.staff_sign_in_refill_s, limits.staff_sign_in_burst_per_address))

    @property
    def cookie_secure(self) -> bool:
        """Cookies are sent over HTTPS only when the dashboard is published over HTTPS."""
        return urlsplit(self.settings.public_url).scheme == "https"

    def bind(self, request: Request) -> None:
        setattr(request.state, _STATE_KEY, self)

    def credit_asset(self, community_id: str) -> AssetInfo:
        """The asset the dashboard shows and posts: CREDIT, or the community's first asset."""
        found = self.jeton.ledger.list_assets(community_id)
        for asset in found:
            if asset.code == DEFAULT_ASSET:
                return asset
        if found:
            return found[0]
        return AssetInfo(code=DEFAULT_ASSET, scale=0)

    def community(self, community_id: str, asset: AssetInfo | None = None) -> Community:
        """The in-process API of one community, on the dashboard's credit asset."""
        code = (asset or self.credit_asset(community_id)).code
        return Community(self.jeton, community_id, asset=code)


def admin_context(request: Request) -> AdminContext:
    """The context of the dashboard serving `request` (bound by the router's first dependency)."""
    ctx = getattr(request.state, _STATE_KEY, None)
    if not isinstance(ctx, AdminContext):
        raise InvariantViolation("an admin route was reached without its context")
    return ctx


def bind_session(request: Request, session: StaffSession | None, cookie_seen: bool) -> None:
    setattr(request.state, _STAFF_KEY, session)
    setattr(request.state, _COOKIE_SEEN_KEY, cookie_seen)


def session_of(request: Request) -> StaffSession | None:
    """The session of the request at any stage (a full one, or one waiting for its code)."""
    session = getattr(request.state, _STAFF_KEY, None)
    return session if isinstance(session, StaffSession) else None


def session_cookie_seen(request: Request) -> bool:
    """Whether the request carried a session cookie (live or not): an ended session's mark."""
    return bool(getattr(request.state, _COOKIE_SEEN_KEY, False))
