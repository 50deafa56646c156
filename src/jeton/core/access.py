"""Access rules: who may see a service and who may use it.

Members hold *classes* (tiers and roles: `vip`, `seller`) and *keys* (named grants: the key to
an archive), each with an optional expiry. An expired class or key stops counting at the instant
it expires, whether or not a job has cleaned it up yet, so evaluation takes `now`.

A service has an access level:

- `open`: everyone sees it; every member may use it (at its price).
- `locked`: everyone sees it ("see but not touch"); a member may use it when one of the rule's
  alternatives holds.
- `hidden`: only a member holding one of the rule's classes or keys sees it, and only then may
  use it. To anyone else it does not exist: the answer carries no reasons and no fixes, so a
  hidden service's requirements are not disclosed; the services layer answers `not_found`.

The alternatives (`any_of`) are a class, a key, or `payment`. Any one is enough. `payment` means
"a member may use it by paying the price"; beside a class it reads "class vip *or* pay", so a
member let in by a class or key of a rule that also lists `payment` uses the service without
paying (`Access.pay` is false). Where `payment` is not an alternative, the class or key only
opens the door and the price still applies to everyone let in. Class prices in the price rule
are the other way to make a class pay less; the two do not interfere.

Only members hold credits. A non-member (no wallet) is never allowed; they see what is not
hidden, and the answer says how to get in (join, then the class, key or payment), so the host
app can show the price and a prompt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from jeton.core import limits
from jeton.core.amounts import external_id
from jeton.core.clock import ensure_utc
from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status


class AccessLevel(StrEnum):
    open = "open"
    locked = "locked"  # visible, usable when a requirement holds
    hidden = "hidden"  # visible and usable only with a class or key of the rule


class NeedKind(StrEnum):
    member_class = "class"
    key = "key"
    payment = "payment"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One alternative of an access rule: `class:vip`, `key:archive` or `payment`."""

    kind: NeedKind
    name: str | None = None  # the class or key; None for payment

    def __post_init__(self) -> None:
        if not isinstance(self.kind, NeedKind):
            raise InvalidRequest(f"requirement kind must be one of "
                                 f"{[k.value for k in NeedKind]}, got {self.kind!r}",
                                 status=Status.value_invalid)
        if self.kind is NeedKind.payment:
            if self.name is not None:
                raise InvalidRequest("payment takes no name", status=Status.value_invalid)
        else:
            external_id(self.name, f"{self.kind.value} name")

    def __str__(self) -> str:
        return self.kind.value if self.name is None else f"{self.kind.value}:{self.name}"

    @classmethod
    def parse(cls, text: object) -> Requirement:
        """`class:vip`, `key:archive` or `payment`, as written in a catalog."""
        if text == NeedKind.payment.value:
            return cls(NeedKind.payment)
        if isinstance(text, str) and ":" in text:
            kind, _, name = text.partition(":")
            if kind in (NeedKind.member_class.value, NeedKind.key.value):
                return cls(NeedKind(kind), name)
        raise InvalidRequest(
            f"a requirement is 'class:NAME', 'key:NAME' or 'payment', got {text!r}",
            status=Status.value_invalid)


@dataclass(frozen=True, slots=True)
class AccessRule:
    level: AccessLevel = AccessLevel.open
    any_of: tuple[Requirement, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.level, AccessLevel):
            raise InvalidRequest(f"access level must be one of "
                                 f"{[lv.value for lv in AccessLevel]}, got {self.level!r}",
                                 status=Status.value_invalid)
        if len(self.any_of) > limits.access_alternatives_max:
            raise InvalidRequest(f"an access rule has at most {limits.access_alternatives_max} "
                                 f"alternatives", status=Status.value_invalid)
        if len(set(self.any_of)) != len(self.any_of):
            raise InvalidRequest("an access rule lists the same requirement twice",
                                 status=Status.value_invalid)
        if self.level is AccessLevel.open and self.any_of:
            raise InvalidRequest("an open service has no requirements; make it locked or hidden",
                                 status=Status.value_invalid)
        if self.level is not AccessLevel.open and not self.any_of:
            raise InvalidRequest(f"a {self.level.value} service needs at least one requirement",
                                 status=Status.value_invalid)
        if self.level is AccessLevel.hidden and not any(
                r.kind is not NeedKind.payment for r in self.any_of):
            raise InvalidRequest("a hidden service needs a class or a key to be seen at all",
                                 status=Status.value_invalid)


OPEN = AccessRule()


@dataclass(frozen=True, slots=True)
class Grant:
    """A class or a key a member holds, until `expires_at` (None: for good)."""

    name: str
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        external_id(self.name, "class or key name")
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise InvalidRequest("expiry must be timezone-aware", status=Status.expiry_invalid)

    def is_live(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True, slots=True)
class Holdings:
    """What a member holds that access rules and class prices look at."""

    classes: tuple[Grant, ...] = ()
    keys: tuple[Grant, ...] = ()

    def live_classes(self, now: datetime) -> frozenset[str]:
        return _live(self.classes, ensure_utc(now))

    def live_keys(self, now: datetime) -> frozenset[str]:
        return _live(self.keys, ensure_utc(now))


def live_classes(holdings: Holdings, now: datetime) -> frozenset[str]:
    """The classes that count now: what `prices.quote` takes as `classes`."""
    return holdings.live_classes(now)


class ReasonKind(StrEnum):
    not_a_member = "not_a_member"
    no_class = "no_class"
    class_expired = "class_expired"
    no_key = "no_key"
    key_expired = "key_expired"


@dataclass(frozen=True, slots=True)
class Reason:
    kind: ReasonKind
    name: str | None = None
    expired_at: datetime | None = None  # for class_expired and key_expired: the latest expiry


class FixKind(StrEnum):
    become_member = "become_member"  # join the community (and buy credits)
    get_class = "get_class"  # upgrade to the class
    get_key = "get_key"  # obtain the key
    pay = "pay"  # pay the service's price


@dataclass(frozen=True, slots=True)
class Fix:
    kind: FixKind
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Access:
    visible: bool
    allowed: bool
    pay: bool  # when allowed: whether the service's price applies (see the module docstring)
    via: Requirement | None  # the alternative that let the member in; None for open services
    reasons: tuple[Reason, ...] = ()  # when not allowed (and visible): why not
    fixes: tuple[Fix, ...] = ()  # when not allowed (and visible): what would let them in


_FIX_FOR = {NeedKind.member_class: FixKind.get_class, NeedKind.key: FixKind.get_key,
            NeedKind.payment: FixKind.pay}


def evaluate(rule: AccessRule, member: Holdings | None, now: datetime) -> Access:
    """May this member (None: a non-member) see and use a service with `rule`, at `now`?"""
    now = ensure_utc(now)
    if member is None:
        return _for_non_member(rule)
    if rule.level is AccessLevel.open:
        return Access(visible=True, allowed=True, pay=True, via=None)
    classes, keys = member.live_classes(now), member.live_keys(now)
    held = [r for r in rule.any_of if r.kind is not NeedKind.payment
            and r.name in (classes if r.kind is NeedKind.member_class else keys)]
    if held:
        waives = any(r.kind is NeedKind.payment for r in rule.any_of)
        return Access(visible=True, allowed=True, pay=not waives, via=held[0])
    if rule.level is AccessLevel.hidden:
        return Access(visible=False, allowed=False, pay=False, via=None)
    payment = [r for r in rule.any_of if r.kind is NeedKind.payment]
    if payment:
        return Access(visible=True, allowed=True, pay=True, via=payment[0])
    reasons = tuple(_reason(r, member) for r in rule.any_of)
    fixes = tuple(Fix(_FIX_FOR[r.kind], r.name) for r in rule.any_of)
    return Access(visible=True, allowed=False, pay=False, via=None, reasons=reasons, fixes=fixes)


def _for_non_member(rule: AccessRule) -> Access:
    if rule.level is AccessLevel.hidden:
        return Access(visible=False, allowed=False, pay=False, via=None)
    fixes = [Fix(FixKind.become_member)]
    fixes += [Fix(_FIX_FOR[r.kind], r.name) for r in rule.any_of]
    if not rule.any_of:
        fixes.append(Fix(FixKind.pay))
    return Access(visible=True, allowed=False, pay=False, via=None,
                  reasons=(Reason(ReasonKind.not_a_member),), fixes=tuple(fixes))


def _reason(requirement: Requirement, member: Holdings) -> Reason:
    is_class = requirement.kind is NeedKind.member_class
    grants = member.classes if is_class else member.keys
    expiries = [g.expires_at for g in grants
                if g.name == requirement.name and g.expires_at is not None]
    if expiries:
        kind = ReasonKind.class_expired if is_class else ReasonKind.key_expired
        return Reason(kind, requirement.name, expired_at=max(expiries))
    return Reason(ReasonKind.no_class if is_class else ReasonKind.no_key, requirement.name)


def _live(grants: Iterable[Grant], now: datetime) -> frozenset[str]:
    return frozenset(g.name for g in grants if g.is_live(now))
