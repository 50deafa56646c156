"""Limits and fees on credits members send each other.

The ledger moves the credits (`Ledger.transfer`: lots travel with their expiry and paid status,
a fee goes to revenue). This module adds the community's rules:

- per-member limits on what leaves a wallet by transfers (amount plus fee) per UTC day and per
  calendar month, checked by a ledger hook inside the transfer's own transaction. The sender's
  wallet row is locked there, so two transfers from one member cannot both slip under a limit;
  over the limit the transfer is refused (`limit_exceeded`) and nothing is written;
- a default fee, fixed plus basis points of the amount, used when the caller names none.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import amounts
from jeton.core.errors import InvalidRequest, error_for
from jeton.core.statuses import Status
from jeton.services.funding import base as fb
from jeton.services.funding.results import TransferLimits
from jeton.services.ledger.results import TransferResult
from jeton.services.ledger.state import PreRead, wallet_id
from jeton.services.ledger.workset import WorkSet
from jeton.store.tables.funding import funding_settings
from jeton.store.tables.ledger import postings, transfers

if TYPE_CHECKING:
    from jeton.app import Jeton

_BP_WHOLE = 10_000


def _setting(asset: str) -> str:
    return f"transfer_limits:{asset}"


def set_transfer_limits(j: Jeton, community_id: str, *, per_day: int | None = None,
                        per_month: int | None = None, fee_fixed: int = 0, fee_bp: int = 0,
                        asset: str = "CREDIT") -> TransferLimits:
    for value, what in ((per_day, "per_day"), (per_month, "per_month")):
        if value is not None and amounts.whole_amount(value, what) < 0:
            raise InvalidRequest(f"{what} must not be negative", status=Status.amount_invalid)
    if amounts.whole_amount(fee_fixed, "fee_fixed") < 0:
        raise InvalidRequest("fee_fixed must not be negative", status=Status.amount_invalid)
    if type(fee_bp) is not int or not 0 <= fee_bp <= _BP_WHOLE:
        raise InvalidRequest("fee_bp must be 0-10000", status=Status.value_invalid)
    config = TransferLimits(asset=amounts.asset_code(asset), per_day=per_day,
                            per_month=per_month, fee_fixed=fee_fixed, fee_bp=fee_bp)
    now_us = j.ledger.now_us()

    def tx(conn: Connection) -> None:
        fb.require_asset(conn, community_id, config.asset)
        fb.put_setting(conn, community_id, _setting(config.asset), config.model_dump(), now_us)

    j.store.run_write(tx)
    return config


def get_transfer_limits(j: Jeton, community_id: str, asset: str = "CREDIT") -> TransferLimits:
    with j.store.read() as conn:
        return _limits(conn, community_id, asset)


def transfer_fee(j: Jeton, community_id: str, amount: int, asset: str = "CREDIT") -> int:
    """The community's fee on sending `amount` (0 when none is set)."""
    return _fee(get_transfer_limits(j, community_id, asset), amount)


def _fee(config: TransferLimits, amount: int) -> int:
    return config.fee_fixed + amount * config.fee_bp // _BP_WHOLE


_SETTING = sa.select(funding_settings.c.value_json).where(
    funding_settings.c.community_id == sa.bindparam("c"),
    funding_settings.c.name == sa.bindparam("n"))


def pre_read(community_id: str, asset: str) -> list[PreRead]:
    """A transfer's fee and limits, sent ahead with its first round trip (decision 0037)."""
    return [PreRead(f"transfer_limits:{asset}", _SETTING,
                    {"c": community_id, "n": _setting(asset)})]


def _limits_in(ws: WorkSet, asset: str) -> TransferLimits:
    read = pre_read(ws.community_id, asset)[0]
    row = ws.read_ahead(read)
    ws.prefetched[read.name] = row  # kept: the fee and the limits hook both ask
    if row is None:
        return TransferLimits(asset=asset)
    return TransferLimits.model_validate(json.loads(row[0]))


def default_fee(ws: WorkSet, asset: str, amount: int) -> int:
    """The ledger's `default_fee`: the community's fee, read inside the transfer's write."""
    return _fee(_limits_in(ws, asset), amount)


def transfer_limits_hook(ws: WorkSet, results: list[TransferResult]) -> None:
    """Ledger hook: refuse a transfer that takes its sender over a day or month limit."""
    sent: dict[tuple[str, str], int] = {}
    for r in results:
        if r.kind == "transfer" and r.member_id:
            wid = wallet_id(r.member_id, r.asset)
            out = -sum(p.amount for p in r.postings if p.account_id == wid)
            sent[(r.member_id, r.asset)] = sent.get((r.member_id, r.asset), 0) + out
    for (member_id, asset), now_sent in sent.items():
        config = _limits_in(ws, asset)
        for limit, period in ((config.per_day, "day"), (config.per_month, "month")):
            if limit is None:
                continue
            _key, start_us = fb.period_bounds(period, ws.now_us)
            before = _sent_since(ws, member_id, asset, start_us)
            if before + now_sent > limit:
                raise error_for(
                    Status.limit_exceeded,
                    f"member {member_id!r} may send {limit} {asset} per {period} and has sent "
                    f"{before}; {max(limit - before, 0)} left", limit=limit, used=before,
                    required=now_sent)


def _sent_since(ws: WorkSet, member_id: str, asset: str, start_us: int) -> int:
    t, p = transfers.c, postings.c
    total = ws.conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(p.amount), 0))
        .select_from(transfers.join(postings, sa.and_(p.community_id == t.community_id,
                                                      p.transfer_id == t.transfer_id)))
        .where(t.community_id == ws.community_id, t.member_id == member_id,
               t.kind == "transfer", t.asset == asset, t.effective_at_us >= start_us,
               p.account_id == wallet_id(member_id, asset))).scalar_one()
    return -int(total)


def _limits(conn: Connection, community_id: str, asset: str) -> TransferLimits:
    value = fb.get_setting(conn, community_id, _setting(asset))
    return TransferLimits.model_validate(value) if value else TransferLimits(asset=asset)
