"""An offer: the pure half of `check`, answering "may this member do X, and for how much?".

`make_offer` runs the rules of a catalog service in their one order, so the in-process API, the
HTTP API and the dashboard all agree:

1. **Access** (access.py). A hidden service the member cannot see answers `service_not_found`;
   a visible one they may not use answers `forbidden`, with the reasons and the fixes.
2. **Allowance** (allowances.py). Free units come first; past the allowance the rest is priced,
   or with `after = "prompt"` the request answers `limit_exceeded` (the prompt to buy).
3. **Price** (prices.py) of the units left, with the member's live classes and plan discount.
   When a class or key let the member in instead of payment (`Access.pay` false), nothing is
   charged.
4. **Splits** (splits.py) of what is charged.

What it cannot know is left to the services layer, which holds the store: the member's balance
(a 402 `insufficient_credits` decline, or an auto-recharge), and the count of free units already
used in the allowance window, which it looks up under `allowances.window_key` and passes in.

A non-member is never allowed, but a visible service still gets a quote at the list price (no
class, no discount) so the host app can show the price beside the prompt to join.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jeton.core.access import Access, Holdings, evaluate
from jeton.core.allowances import AllowanceUse, use_allowance
from jeton.core.catalog import Service
from jeton.core.prices import Quote, check_quantity, quote
from jeton.core.splits import Target, split
from jeton.core.statuses import Status


@dataclass(frozen=True, slots=True)
class Offer:
    status: Status  # ok, service_not_found, forbidden or limit_exceeded
    access: Access
    allowance: AllowanceUse | None  # None when the service has no allowance or for non-members
    quote: Quote | None  # the price of the units not covered by the allowance; None if hidden
    charge: int  # credits to take from the member now (0: nothing to charge)
    payout: int  # credits to pay the member now (a negative price); 0 otherwise
    splits: tuple[tuple[Target, int], ...]  # how `charge` is divided; sums to `charge`

    @property
    def ok(self) -> bool:
        return self.status is Status.ok


def make_offer(service: Service, member: Holdings | None, quantity: int, now: datetime, *,
               discount_bp: int = 0, used_in_window: int = 0,
               session_id: str | None = None) -> Offer:
    """Access, allowance, price and splits for `quantity` of `service` (see the module docstring).

    `member` is None for a non-member. `used_in_window` is the count of free units already used
    in the window of the service's allowance; `session_id` is needed for per-session
    allowances. Raises InvalidRequest for a bad quantity or discount, and `split_invalid` when a
    discount brought the price under the split's fixed fees.
    """
    qty = check_quantity(quantity)
    access = evaluate(service.access, member, now)
    if not access.visible:
        return Offer(Status.service_not_found, access, None, None, 0, 0, ())
    if member is None:
        listed = quote(service.price, qty)
        return Offer(Status.forbidden, access, None, listed, 0, 0, ())
    classes = member.live_classes(now)
    if not access.allowed:
        return Offer(Status.forbidden, access, None, quote(service.price, qty, classes,
                                                           discount_bp), 0, 0, ())
    use = None
    priced = qty
    if service.allowance is not None:
        use = use_allowance(service.allowance, used_in_window, qty, now, session_id)
        priced = use.priced
        if use.refused:
            return Offer(Status.limit_exceeded, access, use,
                         quote(service.price, qty - use.left_after, classes, discount_bp),
                         0, 0, ())
    priced_quote = quote(service.price, priced, classes, discount_bp)
    amount = priced_quote.credits if access.pay else 0
    if amount < 0:
        return Offer(Status.ok, access, use, priced_quote, 0, -amount, ())
    return Offer(Status.ok, access, use, priced_quote, amount, 0,
                 tuple(split(amount, service.splits)))
