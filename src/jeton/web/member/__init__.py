"""The member pages (`/m`): what a member opens from a link the host app asks for.

Balance, expiring credits and history; the credit store and its checkout; plans;
auto-recharge; coupons; transfers to other members. See `jeton/web/docs.md`.
"""

from jeton.web.member.router import create_member_router

__all__ = ["create_member_router"]
