"""The sign-up bonus: free credits (optionally expiring) for every new member.

A community setting read inside the member's creating transaction (`Ledger.create_member`'s
`on_created`), so the bonus is granted exactly once per member, with the member, or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from jeton.core import amounts
from jeton.core.errors import InvalidRequest
from jeton.core.statuses import Status
from jeton.core.transfers import TransferKind
from jeton.services.funding import base as fb
from jeton.services.funding.results import SignupBonus
from jeton.services.ledger.results import MemberInfo
from jeton.services.ledger.service import Ledger
from jeton.services.ledger.state import Header, LotSpec, system_id
from jeton.services.ledger.workset import WorkSet

if TYPE_CHECKING:
    from jeton.app import Jeton

_SETTING = "signup_bonus"


def set_signup_bonus(j: Jeton, community_id: str, amount: int, *,
                     expiry_days: int | None = None, asset: str = "CREDIT") -> SignupBonus:
    """Credits each new member gets (0 turns the bonus off)."""
    amount = amounts.whole_amount(amount, "amount")
    if amount < 0:
        raise InvalidRequest("a bonus is not negative", status=Status.amount_invalid)
    bonus = SignupBonus(amount=amount, asset=amounts.asset_code(asset),
                        expiry_days=fb.days(expiry_days, "expiry_days"))
    now_us = j.ledger.now_us()

    def tx(conn: Connection) -> None:
        fb.require_asset(conn, community_id, bonus.asset)
        fb.put_setting(conn, community_id, _SETTING, bonus.model_dump(), now_us)

    j.store.run_write(tx)
    return bonus


def get_signup_bonus(j: Jeton, community_id: str) -> SignupBonus:
    with j.store.read() as conn:
        return SignupBonus.model_validate(fb.get_setting(conn, community_id, _SETTING) or {})


def on_member_created(ledger: Ledger) -> Callable[[WorkSet, MemberInfo], None]:
    """The `on_created` callback of `Ledger.create_member` that grants the sign-up bonus."""

    def grant(ws: WorkSet, member: MemberInfo) -> None:
        value = fb.get_setting(ws.conn, ws.community_id, _SETTING)
        if not value:
            return
        bonus = SignupBonus.model_validate(value)
        if bonus.amount <= 0:
            return
        header = Header(TransferKind.grant, bonus.asset, member_id=member.id,
                        actor="system:signup", reason_code="signup_bonus",
                        memo="sign-up bonus")
        spec = LotSpec(source="signup", expires_at_us=fb.expiry_after(ws.now_us,
                                                                      bonus.expiry_days))
        ledger.apply_grant(ws, header, member.id, bonus.amount, spec,
                           system_id("promotions", bonus.asset))

    return grant
