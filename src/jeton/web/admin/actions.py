"""Owner actions with a review step, described as data: what the form asks, and what a filled
form would do (`Plan`: the lines of the review, old → new, and the call that does it).

`pages/actions.py` serves every `Action` the same way (form → review → confirm, back to the
form with what was typed), so each action here is only its fields, its reading of them and one
service call. The pages check the staff user's permission (`Action.permission`); the services
check what a value may be. After a call that changed something, the page writes the audit
record (`Plan.audit`), so a replayed confirm (a double click) records nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jeton.app import Community
from jeton.services.access.staff import Permission, StaffSession
from jeton.services.ledger.results import AssetInfo, MemberInfo
from jeton.web.admin.context import AdminContext
from jeton.web.admin.forms import Fields


@dataclass(frozen=True, slots=True)
class Input:
    """One field of an action's form."""

    name: str
    label: str
    kind: str = "text"  # text, select, checkbox, textarea
    hint: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (value, text) of a select
    required: bool = False


@dataclass(frozen=True, slots=True)
class Scope:
    """What an action acts on: the community, and the member and object when it has them."""

    ctx: AdminContext
    staff: StaffSession
    community: Community
    asset: AssetInfo
    member: MemberInfo | None
    target: str  # the purchase, transfer or subscription id; "" for none


@dataclass(slots=True)
class Audit:
    action: str
    target: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Plan:
    """What a filled form would do, for the review; `apply` does it and says whether it
    changed anything (False: a replay or the same values again, not audited)."""

    lines: list[tuple[str, str]]
    apply: Callable[[], bool]
    audit: Audit
    confirm_label: str
    notice: str
    danger: bool = False
    # Why the change cannot succeed, when it cannot: the review shows it and no Confirm.
    refusal: str = ""


@dataclass(frozen=True, slots=True)
class Action:
    key: str  # in the URL: /admin/actions/<key>
    title: str
    inputs: Callable[[Scope], list[Input]]
    initial: Callable[[Scope], dict[str, str]]
    # A Plan, or None when the fields have errors (in `fields.errors`).
    plan: Callable[[Scope, Fields], Plan | None]
    member: bool = True  # acts on one member (back to their page) or on the community
    target_label: str = ""  # what `target` names, for a missing one ("purchase")
    permission: Permission = Permission.configure
    lede: Callable[[Scope], str] = lambda scope: ""


def whole(fields: Fields, name: str, *, minimum: int = 0) -> int | None:
    """An optional whole number; empty is None."""
    return fields.integer(name, minimum=minimum)


def shown(value: object, empty: str = "none") -> str:
    return empty if value is None or value == "" else str(value)
