"""What every member page can reach: the Jeton, the templates, and who is asking.

A request's member comes from its session (the cookie a member link opened), never from the URL
or a form: `current_member` builds a `Member` from the session, and every page reads its member
id, community and asset from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import jinja2
from fastapi import Request

from jeton.app import Community, Jeton
from jeton.core.errors import InvariantViolation
from jeton.services.access.member_links import MemberSession
from jeton.services.ledger.results import AssetInfo, MemberInfo

# The asset the pages show and move: CREDIT, else the community's first asset that is not money.
DEFAULT_ASSET = "CREDIT"
_STATE_KEY = "jeton_member_pages"
_SESSION_KEY = "jeton_member_session"
_COOKIE_SEEN_KEY = "jeton_member_cookie_seen"
_MEMBER_KEY = "jeton_member"


@dataclass(frozen=True, slots=True)
class MemberContext:
    jeton: Jeton
    templates: jinja2.Environment

    @property
    def cookie_secure(self) -> bool:
        """Cookies are sent over HTTPS only when the pages are published over HTTPS."""
        return urlsplit(self.jeton.settings.public_url).scheme == "https"

    @property
    def public_base(self) -> str:
        """The address the member's browser reaches us at (JETON_PUBLIC_URL), without a slash
        at the end: providers send the member back to URLs under it."""
        return self.jeton.settings.public_url.rstrip("/")

    def bind(self, request: Request) -> None:
        setattr(request.state, _STATE_KEY, self)


@dataclass(frozen=True, slots=True)
class Member:
    """The member a request acts for, with their community and its credit asset."""

    session: MemberSession
    community: Community
    community_name: str
    asset: AssetInfo
    info: MemberInfo

    @property
    def id(self) -> str:
        return self.session.member_id

    @property
    def display_name(self) -> str:
        return self.info.name or self.info.id

    @property
    def actor(self) -> str:
        """How the member is named as the actor of a write they make on these pages."""
        return f"member:{self.id}"


def member_context(request: Request) -> MemberContext:
    ctx = getattr(request.state, _STATE_KEY, None)
    if not isinstance(ctx, MemberContext):
        raise InvariantViolation("a member page was reached without its context")
    return ctx


def bind_session(request: Request, session: MemberSession | None, cookie_seen: bool) -> None:
    setattr(request.state, _SESSION_KEY, session)
    setattr(request.state, _COOKIE_SEEN_KEY, cookie_seen)


def session_of(request: Request) -> MemberSession | None:
    session = getattr(request.state, _SESSION_KEY, None)
    return session if isinstance(session, MemberSession) else None


def session_cookie_seen(request: Request) -> bool:
    return bool(getattr(request.state, _COOKIE_SEEN_KEY, False))


def bind_member(request: Request, member: Member) -> None:
    setattr(request.state, _MEMBER_KEY, member)


def member_of(request: Request) -> Member | None:
    """The member `current_member` found for this request, if a page asked for one."""
    found = getattr(request.state, _MEMBER_KEY, None)
    return found if isinstance(found, Member) else None


def load_member(ctx: MemberContext, session: MemberSession) -> Member:
    j = ctx.jeton
    asset = credit_asset(j, session.community_id)
    community = Community(j, session.community_id, asset=asset.code)
    return Member(session=session, community=community, community_name=community.info().name,
                  asset=asset, info=community.get_member(session.member_id))


def credit_asset(j: Jeton, community_id: str) -> AssetInfo:
    found = j.ledger.list_assets(community_id)
    for asset in found:
        if asset.code == DEFAULT_ASSET:
            return asset
    for asset in found:
        # Money is kept as assets named by currency (USD/2); members hold credits, not those.
        if not (len(asset.code) == 3 and asset.code.isalpha()):
            return asset
    return found[0] if found else AssetInfo(code=DEFAULT_ASSET, scale=0)
