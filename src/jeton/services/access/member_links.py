"""Member links: short-lived, single-use links that open one member's own pages.

Like a billing portal session: the host app asks for a link for one member
(`create_member_link`; over HTTP `POST /v1/members/{id}/portal_links`) and sends the member's
browser to it. Opening it (`exchange_member_link`) trades the link's token, once, for a member
session: a new random token that the browser keeps in an HttpOnly cookie and that every member
page reads the member from. The store keeps only SHA-256 digests of both tokens.

- A link opens for `ttl_s` seconds (10 minutes by default, 1 s to 1 h) and only once: the
  exchange is a conditional update (`used_at_us IS NULL AND expires_at_us > now`) in the same
  transaction that creates the session, so two tabs opening one link get one session between
  them. The browser that opened a link may open it again while its session lives (a reload);
  anyone else gets "already used".
- The session lasts `limits.member_session_lifetime_s` (an hour) from the exchange, is scoped
  to one member of one community, and ends early when the member signs out.
- Expired links and sessions are deleted a day later by the `member_links.purge` job.

Business time (expiry) comes from the Jeton's clock. See
docs/decisions/0029-member-links-and-pages.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import amounts, limits
from jeton.core.clock import from_us, to_us
from jeton.core.errors import InvalidRequest, NotFound
from jeton.core.statuses import Status
from jeton.payments import _validate
from jeton.services.ledger.jobs import job
from jeton.services.ledger.results import Result
from jeton.store.tables.ledger import members
from jeton.store.tables.member_links import member_links, member_sessions

if TYPE_CHECKING:
    from jeton.app import Jeton

# Where the member pages are served; `jeton.web.member` mounts its router here by default and
# links point under it.
MEMBER_PAGES_PATH = "/m"
# A link is `<public url>/m/open/<token>`.
LINK_SEGMENT = "open"
# base64url(community id) + "." + 43 random characters: never longer than this.
TOKEN_CHARS_MAX = 200

_US = 1_000_000


class MemberLink(Result):
    """A link that opens the member's pages once, until `expires_at`. Send the member's browser
    to `url` at once; do not email it (a mail scanner opening it would use it up)."""

    url: str
    expires_at: datetime
    member_id: str


@dataclass(frozen=True, slots=True)
class MemberSession:
    """A member signed in through a link: everything a member page may know about who asks."""

    community_id: str
    session_id: str  # the digest of the token, never the token
    member_id: str
    link_id: str  # the digest of the link that opened it
    csrf_token: str
    return_url: str | None  # the host app's page to go back to
    created_at: datetime
    expires_at: datetime


class LinkStatus(StrEnum):
    opened = "opened"  # a new session: set its token as the cookie
    reopened = "reopened"  # this browser's session came from this link already: keep it
    unknown = "unknown"  # no such link (mistyped, or deleted long after it expired)
    expired = "expired"
    used = "used"  # opened once already, by another browser or an earlier session


@dataclass(frozen=True, slots=True)
class LinkExchange:
    status: LinkStatus
    token: str | None = None  # the new session's token (only for `opened`): for the cookie
    session: MemberSession | None = None  # set for `opened` and `reopened`
    return_url: str | None = None  # the link's return URL, when known (also when refused)


# ---- for the host app ----

def create_member_link(j: Jeton, community_id: str, member_id: str, *,
                       return_url: str | None = None,
                       ttl_s: int = limits.member_link_ttl_s_default,
                       actor: str = "system") -> MemberLink:
    """A link that opens `member_id`'s pages once within `ttl_s` seconds.

    `return_url` (an absolute http(s) URL) is where the pages send the member back to.
    Raises NotFound for an unknown member and InvalidRequest for a bad `ttl_s` or URL.
    """
    amounts.external_id(member_id, "member_id")
    if (type(ttl_s) is not int
            or not limits.member_link_ttl_s_min <= ttl_s <= limits.member_link_ttl_s_max):
        raise InvalidRequest(
            f"ttl_s must be a whole number of seconds, {limits.member_link_ttl_s_min}-"
            f"{limits.member_link_ttl_s_max}, got {ttl_s!r}", status=Status.value_invalid)
    url = _return_url(return_url)
    now_us = to_us(j.clock.now())
    expires_at_us = now_us + ttl_s * _US
    token = _make_token(community_id)
    row = {"community_id": community_id, "link_id": _digest(token), "member_id": member_id,
           "return_url": url, "created_by": str(actor)[:100], "created_at_us": now_us,
           "expires_at_us": expires_at_us, "used_at_us": None}

    def tx(conn: Connection) -> None:
        _require_member(conn, community_id, member_id)
        conn.execute(member_links.insert().values(**row))

    j.store.run_write(tx)
    base = j.settings.public_url.rstrip("/")
    return MemberLink(url=f"{base}{MEMBER_PAGES_PATH}/{LINK_SEGMENT}/{token}",
                      expires_at=from_us(expires_at_us), member_id=member_id)


# ---- for the member pages ----

def exchange_member_link(j: Jeton, token: str, *,
                         current: MemberSession | None = None) -> LinkExchange:
    """Trade a link's token for a new member session, once.

    `current` is the live session the browser already holds, if any: when it was opened by this
    very link, the answer is `reopened` (a reload of the link is not an error for its owner).
    """
    community_id = _token_community(token)
    if community_id is None:
        return LinkExchange(LinkStatus.unknown)
    link_id = _digest(token)
    now_us = to_us(j.clock.now())
    c = member_links.c

    def tx(conn: Connection) -> LinkExchange:
        row = conn.execute(sa.select(member_links).where(
            c.community_id == community_id, c.link_id == link_id)).mappings().first()
        if row is None:
            return LinkExchange(LinkStatus.unknown)
        back = row["return_url"]
        if row["used_at_us"] is not None:
            if (current is not None and current.community_id == community_id
                    and current.link_id == link_id):
                return LinkExchange(LinkStatus.reopened, session=current, return_url=back)
            return LinkExchange(LinkStatus.used, return_url=back)
        if now_us >= row["expires_at_us"]:
            return LinkExchange(LinkStatus.expired, return_url=back)
        # The one place a link is used up: whoever updates the row owns the link.
        done = conn.execute(member_links.update().where(
            c.community_id == community_id, c.link_id == link_id, c.used_at_us.is_(None),
            c.expires_at_us > now_us).values(used_at_us=now_us))
        if done.rowcount != 1:
            return LinkExchange(LinkStatus.used, return_url=back)
        session_token = _make_token(community_id)
        session_row = {
            "community_id": community_id, "session_id": _digest(session_token),
            "member_id": row["member_id"], "link_id": link_id,
            "csrf_token": secrets.token_urlsafe(32), "return_url": back,
            "created_at_us": now_us,
            "expires_at_us": now_us + limits.member_session_lifetime_s * _US, "revoked": False,
        }
        conn.execute(member_sessions.insert().values(**session_row))
        return LinkExchange(LinkStatus.opened, token=session_token,
                            session=_session_from(session_row), return_url=back)

    return j.store.run_write(tx)


def resolve_member_session(j: Jeton, token: str) -> MemberSession | None:
    """The live session `token` stands for, or None (unknown, signed out or expired)."""
    community_id = _token_community(token)
    if community_id is None:
        return None
    s = member_sessions.c
    with j.store.read() as conn:
        row = conn.execute(sa.select(member_sessions).where(
            s.community_id == community_id,
            s.session_id == _digest(token))).mappings().first()
    if row is None or row["revoked"] or to_us(j.clock.now()) >= row["expires_at_us"]:
        return None
    return _session_from(row)


def end_member_session(j: Jeton, session: MemberSession) -> None:
    """Sign out: the session's token stops working at once."""
    s = member_sessions.c
    j.store.run_write(lambda conn: conn.execute(member_sessions.update().where(
        s.community_id == session.community_id,
        s.session_id == session.session_id).values(revoked=True)))


@job("member_links.purge", 3600, real_time=True)
def purge_member_links(j: Jeton, community_id: str) -> int:
    """Delete links and sessions that expired more than `member_links_retention_s` ago."""
    before_us = to_us(j.clock.now()) - limits.member_links_retention_s * _US

    def tx(conn: Connection) -> int:
        gone = 0
        for table in (member_sessions, member_links):
            result = conn.execute(table.delete().where(
                table.c.community_id == community_id, table.c.expires_at_us < before_us))
            gone += int(result.rowcount)
        return gone

    return j.store.run_write(tx)


# ---- helpers ----

def _require_member(conn: Connection, community_id: str, member_id: str) -> None:
    found = conn.execute(sa.select(members.c.member_id).where(
        members.c.community_id == community_id, members.c.member_id == member_id)).first()
    if found is None:
        raise NotFound(f"no member {member_id!r}", status=Status.member_not_found)


def _return_url(value: str | None) -> str | None:
    return None if value is None else _validate.url(
        value, "return_url", limits.member_return_url_chars_max)


def _make_token(community_id: str) -> str:
    # The community rides in the token so that its row is found by the primary key.
    prefix = base64.urlsafe_b64encode(community_id.encode()).decode().rstrip("=")
    return f"{prefix}.{secrets.token_urlsafe(32)}"


def _token_community(token: str) -> str | None:
    if not isinstance(token, str) or len(token) > TOKEN_CHARS_MAX or token.count(".") != 1:
        return None
    prefix = token.split(".", 1)[0]
    try:
        found = base64.urlsafe_b64decode(prefix + "=" * (-len(prefix) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return found or None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _session_from(row: Any) -> MemberSession:
    return MemberSession(
        community_id=row["community_id"], session_id=row["session_id"],
        member_id=row["member_id"], link_id=row["link_id"], csrf_token=row["csrf_token"],
        return_url=row["return_url"], created_at=from_us(row["created_at_us"]),
        expires_at=from_us(row["expires_at_us"]))
