"""What the member pages' forms share: idempotency keys made per form render, typed fields.

Each write form carries a key made when the form was rendered (hidden field `key`); the page
turns it into the service's idempotency key, namespaced by the member and the action, so a
double submit (a double click, a reload after a POST) replays the first result and changes
nothing, and no member's key can collide with another's. Field parsing (`Fields`) and the
post-redirect helper are the dashboard's (jeton/web/admin/forms.py).
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated

from fastapi import Form

from jeton.core import limits
from jeton.web.admin.forms import Fields, error_message, redirect_to
from jeton.web.member.context import Member
from jeton.web.member.security import PageError

__all__ = ["Fields", "FormKey", "Text", "error_message", "form_key", "redirect_to",
           "write_key"]

KEY_FIELD = "key"
# A short field a person types: a coupon code, a member id, an amount, a note.
Text = Annotated[str, Form(max_length=limits.memo_chars_max)]
FormKey = Annotated[str, Form(max_length=64)]
_FORM_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def form_key() -> str:
    """A fresh key for one rendering of a write form."""
    return secrets.token_urlsafe(18)


def write_key(me: Member, action: str, key: str) -> str:
    """The idempotency key of a write: the form's key, for this member and action only."""
    if not _FORM_KEY.match(key):
        raise PageError("The form was out of date. Go back, reload the page and try again.")
    return f"member-pages:{me.session.community_id}:{me.id}:{action}:{key}"
