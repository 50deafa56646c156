"""What one use of a service costs and who is paid: offers, splits and receipts.

Pure over a working set: `check` and `charge` (service.py) and metered use (metered.py) decide
with these, then write through the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jeton.core import amounts, limits
from jeton.core import lots as lotlib
from jeton.core.access import FixKind, Holdings, NeedKind
from jeton.core.catalog import Service
from jeton.core.clock import from_us
from jeton.core.errors import (
    InvalidRequest,
    InvariantViolation,
)
from jeton.core.ids import new_id
from jeton.core.offers import Offer
from jeton.core.prices import PriceRule, Quote, check_quantity, quote
from jeton.core.splits import REVENUE, REVENUE_TEXT, Target, TargetKind
from jeton.core.statuses import Status
from jeton.services.charging.reads import (
    Snapshot,
)
from jeton.services.charging.results import (
    ChargeReceipt,
    ExternalPayment,
    FixInfo,
    MoneyInfo,
    PriceInfo,
    SplitLine,
)
from jeton.services.ledger.results import TransferResult, trusted
from jeton.services.ledger.state import Acct, Declined, wallet_id
from jeton.services.ledger.workset import WorkSet

if TYPE_CHECKING:
    pass


DECLINE_EVENTS = frozenset({Status.insufficient_credits, Status.forbidden, Status.limit_exceeded,
                            Status.velocity_limit_exceeded, Status.wallet_frozen})


@dataclass(slots=True)
class Evaluation:
    """Everything `check` and `charge` decide before any credit moves."""

    snap: Snapshot
    service: Service | None  # None: no such service in the active catalog
    offer: Offer | None
    discount_bp: int = 0
    now: datetime = field(default_factory=lambda: from_us(0))

    @property
    def visible(self) -> bool:
        return (self.offer is not None and self.offer.status is not Status.service_not_found)


def request_fields(service: object, quantity: object, context: Mapping[str, str] | None,
             session_id: str | None, asset: object) -> tuple[str, int, dict[str, str], str]:
    code = amounts.service_code(service)
    qty = check_quantity(quantity)
    if session_id is not None:
        amounts.external_id(session_id, "session id")
    return code, qty, check_context(context), amounts.asset_code(asset)


def check_context(context: Mapping[str, str] | None) -> dict[str, str]:
    """The context of a charge: short strings by name (`uploader` → a member id)."""
    if context is None:
        return {}
    if not isinstance(context, Mapping):
        raise InvalidRequest("context must be an object of names to strings",
                             status=Status.value_invalid)
    if len(context) > limits.charge_context_entries_max:
        raise InvalidRequest(f"context has at most {limits.charge_context_entries_max} entries",
                             status=Status.value_invalid)
    out: dict[str, str] = {}
    for name, value in context.items():
        amounts.external_id(name, "context name")
        if not isinstance(value, str) or not 1 <= len(value) <= \
                limits.charge_context_value_chars_max:
            raise InvalidRequest(f"context[{name!r}] must be text of 1-"
                                 f"{limits.charge_context_value_chars_max} characters",
                                 status=Status.value_invalid)
        out[name] = value
    return dict(sorted(out.items()))


def short_text(value: object, what: str, chars_max: int) -> None:
    if not isinstance(value, str) or len(value) > chars_max:
        raise InvalidRequest(f"{what} must be text of at most {chars_max} characters",
                             status=Status.value_invalid)


def may_charge(rule: PriceRule) -> bool:
    return any(p > 0 for p in rule.all_credit_prices())


def usable_offer(ev: Evaluation, member_id: str, code: str) -> Offer:
    """The offer of a charge that may go ahead; Declined with the reason otherwise."""
    offer = ev.offer
    if ev.service is None or offer is None or offer.status is Status.service_not_found:
        raise Declined(Status.service_not_found, f"no service {code!r} in the catalog",
                       service=code)
    if not ev.snap.is_member:
        raise Declined(Status.member_not_found, f"no member {member_id!r}", member=member_id)
    if offer.status is Status.forbidden:
        needs = " or ".join(str(r) for r in ev.service.access.any_of)
        reasons = [{"kind": r.kind.value, "name": r.name} for r in offer.access.reasons]
        raise Declined(Status.forbidden, f"{code} needs {needs}", service=code,
                       reasons=reasons,
                       fixes=[{"kind": f.kind.value, "name": f.name}
                              for f in offer.access.fixes])
    if offer.status is Status.limit_exceeded:
        allowance = ev.service.allowance
        per = allowance.period.value if allowance is not None else "window"
        raise Declined(Status.limit_exceeded,
                       f"the free uses of {code} this {per} are used up",
                       service=code, window=offer.allowance.window if offer.allowance else None)
    if offer.status is not Status.ok:
        raise InvariantViolation(f"an offer with status {offer.status}")
    return offer


def split_lines(splits: Iterable[tuple[Target, int]], payer: str,
                context: Mapping[str, str]) -> list[SplitLine]:
    """Splits with parties resolved from the context. A party that is the payer (an uploader
    downloading their own file) gets nothing: their share goes to revenue."""
    lines: list[SplitLine] = []
    to_revenue = 0
    for target, amount in splits:
        if target.kind is TargetKind.party:
            who = context.get(target.name)
            if who is None:
                raise InvalidRequest(
                    f"this service pays part of its price to {target}: give "
                    f"context[{target.name!r}] (a member id)", status=Status.value_invalid)
            amounts.external_id(who, f"context[{target.name!r}]")
            if who == payer:
                to_revenue += amount
            else:
                lines.append(_line(str(target), who, None, amount))
        elif target == REVENUE:
            to_revenue += amount
        else:
            lines.append(_line(str(target), None, target.name, amount))
    if to_revenue:
        lines.append(_line(REVENUE_TEXT, None, REVENUE.name, to_revenue))
    return lines


# The receipt's parts below are built from values the catalog and the ledger have checked:
# `trusted` skips pydantic's validation of each (a charge's receipt was a visible part of its
# CPU). Each dict names every field of its model, in declared order.

def _line(target: str, member: str | None, account: str | None, amount: int) -> SplitLine:
    return trusted(SplitLine, {"target": target, "member": member, "account": account,
                               "amount": amount})


def price_info(q: Quote) -> PriceInfo:
    b = q.breakdown
    money = (MoneyInfo(currency=q.money.currency, amount_minor=q.money.amount_minor)
             if q.money is not None else None)
    return trusted(PriceInfo, {
        "credits": q.credits, "money": money, "quantity": b.quantity, "units": b.units,
        "unit_credits": b.unit_credits, "price_class": b.price_class,
        "gross_credits": b.gross_credits, "discount_bp": b.discount_bp,
        "discount_credits": b.discount_credits})


def offer_fields(offer: Offer) -> dict[str, Any]:
    use = offer.allowance
    return {"price": price_info(offer.quote) if offer.quote is not None else None,
            "charge": offer.charge, "payout": offer.payout,
            "free_units": use.free if use is not None and not use.refused else 0,
            "allowance_left": use.left_after if use is not None else None,
            "window": use.window if use is not None else None}


def available(ws: WorkSet, acct: Acct | None, service: str | None = None) -> int:
    """What the wallet can pay now: live lots (for `service`, when given), less what it owes,
    plus its credit line. Matches `Ledger.balance(...).available` for service None."""
    if acct is None:
        return 0
    lots = ws.wallet_lots(acct.account_id)
    if service is None:
        live = sum(lot.remaining for lot in lots
                   if lot.remaining > 0 and lot.source != lotlib.OVERDRAFT
                   and (lot.expires_at_us is None or lot.expires_at_us > ws.now_us))
    else:
        live = ws.spendable(acct.account_id, service)
    owed = ws.overdraft_lot(acct.account_id)
    return live + (owed.remaining if owed is not None else 0) - (acct.floor or 0)


def receipt(ws: WorkSet, ev: Evaluation, offer: Offer, member_id: str, code: str,
             quantity: int, asset: str, context: dict[str, str], lines: list[SplitLine],
             external: list[ExternalPayment], transfer: TransferResult | None) -> ChargeReceipt:
    wid = wallet_id(member_id, asset)
    if wid not in ws.accounts:
        ws.load([wid])
    acct = ws.accounts.get(wid)
    quote_ = offer.quote
    if quote_ is None:
        raise InvariantViolation("a usable offer has a quote")
    use = offer.allowance
    return trusted(ChargeReceipt, {
        "id": transfer.id if transfer is not None else free_use_id(),
        "transfer_id": transfer.id if transfer is not None else None,
        "member_id": member_id, "service": code, "quantity": quantity, "asset": asset,
        "price": price_info(quote_), "charged": offer.charge, "paid_to_member": offer.payout,
        "free_units": use.free if use is not None else 0,
        "allowance_left": use.left_after if use is not None else None,
        "window": use.window if use is not None else None,
        "lots": ([m for m in transfer.lots if m.account_id == wid] if transfer is not None
                 else []),
        "splits": list(lines) if offer.charge > 0 else [], "external": list(external),
        "balance_after": acct.posted if acct is not None else 0,
        "available_after": available(ws, acct), "context": dict(context),
        "catalog_version": ev.snap.catalog_version, "created_at": from_us(ws.now_us),
        "replayed": False})


def free_use_id() -> str:
    return new_id()


def upgrades(service: Service, offer: Offer, holdings: Holdings, now: datetime,
              discount_bp: int) -> list[FixInfo]:
    """Classes and keys that would make the use cheaper: a class price below what the member
    pays, or a class or key that waives the price (`class:vip` beside `payment`)."""
    if offer.quote is None:
        return []
    classes = holdings.live_classes(now)
    keys = holdings.live_keys(now)
    found: list[FixInfo] = []
    waivers = any(r.kind is NeedKind.payment for r in service.access.any_of)
    for need in service.access.any_of if waivers else ():
        held = classes if need.kind is NeedKind.member_class else keys
        if need.kind is not NeedKind.payment and need.name not in held:
            kind = FixKind.get_class if need.kind is NeedKind.member_class else FixKind.get_key
            found.append(FixInfo(kind=kind.value, name=need.name, credits=0))
    units = offer.quote.breakdown.quantity
    for cp in service.price.class_prices:
        if cp.member_class in classes:
            continue
        price = quote(service.price, units, classes | {cp.member_class}, discount_bp).credits
        if 0 <= price < offer.quote.credits:
            found.append(FixInfo(kind=FixKind.get_class.value, name=cp.member_class,
                                 credits=price))
    return sorted(found, key=lambda f: (f.credits or 0, f.kind, f.name or ""))
