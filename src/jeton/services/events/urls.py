"""Where webhooks may be sent: public http(s) addresses only, checked twice.

An endpoint URL is a request the owner makes Jeton send from inside the operator's network, so
a URL naming `127.0.0.1`, `10.0.0.5` or the cloud metadata address `169.254.169.254` would turn
webhooks into a way to reach private services (server-side request forgery). The host is
resolved and every address it resolves to must be public:

- when the endpoint is created or its URL changed, for a clear error at once;
- again before every attempt, and the request then goes to the very address checked (the URL's
  host is kept in the `Host` header and for TLS), so a DNS answer that changes between the check
  and the connection (DNS rebinding) cannot point the request elsewhere.

`Settings.webhooks_allow_private` (JETON_WEBHOOKS_ALLOW_PRIVATE) turns the address checks off,
for tests and for an operator whose host app lives on the same private network.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from jeton.core import limits
from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to (empty when it does not resolve).
Resolver = Callable[[str, int], list[str]]


def resolve_host(host: str, port: int) -> list[str]:
    """The system resolver's addresses for `host`, in its order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    found: list[str] = []
    for info in infos:
        addr = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone
        if addr not in found:
            found.append(addr)
    return found


def refusal(ip: IPAddress) -> str | None:
    """Why webhooks may not go to `ip`, or None when it is a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv4 carried inside IPv6 is judged as the IPv4 address it carries.
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None:
            return refusal(inner)
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private or not ip.is_global:
        return "a private address"
    return None


@dataclass(frozen=True, slots=True)
class Target:
    """Where one attempt goes: the URL to connect to and what to tell the server."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, str]


def check_url(url: object) -> httpx.URL:
    """The URL parsed, or InvalidRequest saying what is wrong with it. No network."""
    if not isinstance(url, str) or not url or len(url) > limits.webhook_url_chars_max:
        raise InvalidRequest(f"url must be text of at most {limits.webhook_url_chars_max} "
                             "characters", status=Status.value_invalid, field="url")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise InvalidRequest("url must not contain spaces or control characters",
                             status=Status.value_invalid, field="url")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise InvalidRequest(f"url is not a valid URL: {exc}", status=Status.value_invalid,
                             field="url") from None
    if parsed.scheme not in ("http", "https"):
        raise InvalidRequest("url must start with https:// or http://",
                             status=Status.value_invalid, field="url")
    if not parsed.host:
        raise InvalidRequest("url has no host", status=Status.value_invalid, field="url")
    return parsed


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def public_addresses(url: httpx.URL, resolver: Resolver) -> list[str]:
    """Every address the URL's host resolves to; raises ValueError naming the first that is not
    public (one private answer among public ones is refused too: it is how rebinding looks)."""
    host = url.host
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        why = refusal(literal)
        if why is not None:
            raise ValueError(f"{host} is {why}")
        return [host]
    addresses = resolver(host, _port(url))
    if not addresses:
        raise ValueError(f"host {host!r} does not resolve")
    for addr in addresses:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            raise ValueError(f"host {host!r} resolves to {addr!r}, not an address") from None
        why = refusal(ip)
        if why is not None:
            raise ValueError(f"host {host!r} resolves to {addr}, {why}")
    return addresses


def validate_endpoint_url(url: object, *, allow_private: bool, resolver: Resolver) -> str:
    """Check an endpoint URL when it is registered; InvalidRequest when it is refused."""
    parsed = check_url(url)
    if not allow_private:
        try:
            public_addresses(parsed, resolver)
        except ValueError as exc:
            raise InvalidRequest(f"url refused: {exc}; webhooks go to public addresses only",
                                 status=Status.value_invalid, field="url") from None
    return str(url)


def target_for(url: str, *, allow_private: bool, resolver: Resolver) -> Target:
    """Where to send one attempt. Raises ValueError when the host is (now) refused."""
    parsed = check_url(url)
    if allow_private:
        return Target(url=url, headers={}, extensions={})
    address = public_addresses(parsed, resolver)[0]
    if address == parsed.host:
        return Target(url=url, headers={}, extensions={})  # the URL names an address itself
    pinned = parsed.copy_with(host=address)
    host_header = parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
    extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
    return Target(url=str(pinned), headers={"Host": host_header}, extensions=extensions)
