"""A catalog as plain data: the shape of a catalog file, ready for JSON.

`catalog_to_data` is the inverse of `catalog.catalog_from_data`: a catalog built in Python, or
loaded from TOML or YAML, becomes the same dicts and lists a file would hold, and checking that
data again gives back an equal catalog. The services layer stores each service's entry as JSON
in this shape, and `jeton catalog show --json` prints it, so what is stored is what an owner
would write.

Only what differs from the file format's defaults is written (no `kind = "fixed"`, no empty
`splits`), so two catalogs that mean the same thing store the same text.
"""

from __future__ import annotations

import json
from typing import Any

from jeton.core.access import OPEN, AccessRule
from jeton.core.allowances import AfterAllowance, Allowance
from jeton.core.catalog import Catalog, Service
from jeton.core.prices import PriceKind, PriceRule
from jeton.core.rewards import Reward
from jeton.core.rollover import PlanTerms
from jeton.core.splits import PartKind, SplitPart


def catalog_to_data(catalog: Catalog) -> dict[str, Any]:
    """`{"services": {code: entry}, "rewards": {code: entry}}`, sections left out when empty."""
    data: dict[str, Any] = {}
    if catalog.services:
        data["services"] = {code: service_to_data(s)
                            for code, s in sorted(catalog.services.items())}
    if catalog.rewards:
        data["rewards"] = {code: reward_to_data(r) for code, r in sorted(catalog.rewards.items())}
    if catalog.plans:
        data["plans"] = {pid: plan_to_data(p) for pid, p in sorted(catalog.plans.items())}
    data.update(achievements_to_data(catalog))
    return data


def achievements_to_data(catalog: Catalog) -> dict[str, Any]:
    """The points, badges, levels and challenges sections as they were checked."""
    data: dict[str, Any] = json.loads(json.dumps(dict(catalog.achievements.data),
                                                 sort_keys=True))
    return data


def plan_to_data(terms: PlanTerms) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if terms.rollover is not None:
        r = terms.rollover
        entry["rollover"] = {k: v for k, v in (("share_percent", r.share_percent),
                                               ("cap", r.cap), ("cycles", r.cycles))
                             if v is not None}
    return entry


def service_to_data(service: Service) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": service.name}
    entry.update(_price(service.price))
    if service.unit is not None:
        entry["unit"] = service.unit
    if service.access != OPEN:
        entry["access"] = _access(service.access)
    if service.allowance is not None:
        entry["allowance"] = _allowance(service.allowance)
    if service.splits:
        entry["splits"] = [_part(p) for p in service.splits]
    return entry


def reward_to_data(reward: Reward) -> dict[str, Any]:
    return {"name": reward.name, "credits": reward.credits, "limit": reward.limit,
            "per": reward.period.value}


def _price(rule: PriceRule) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if rule.kind is not PriceKind.fixed:
        out["kind"] = rule.kind.value
    out["credits"] = rule.credits
    if rule.kind is PriceKind.per_unit:
        out["unit_size"] = rule.unit_size
    if rule.class_prices:
        out["class_credits"] = {cp.member_class: cp.credits for cp in rule.class_prices}
    if rule.money is not None:
        out["money"] = {"currency": rule.money.currency, "amount_minor": rule.money.amount_minor}
    return out


def _access(rule: AccessRule) -> dict[str, Any]:
    return {"level": rule.level.value, "any_of": [str(r) for r in rule.any_of]}


def _allowance(allowance: Allowance) -> dict[str, Any]:
    out: dict[str, Any] = {"uses": allowance.uses, "per": allowance.period.value}
    if allowance.after is not AfterAllowance.charge:
        out["after"] = allowance.after.value
    return out


def _part(part: SplitPart) -> dict[str, Any]:
    key = "share_bp" if part.kind is PartKind.share else "fee"
    return {"to": str(part.target), key: part.value}
