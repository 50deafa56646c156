"""A community's catalog as stored: loading a new version, reading the active one, showing it.

Loading checks the whole catalog first (every error at once, with its line) and writes nothing
when anything is wrong. A valid catalog becomes the next version in one transaction: entries
added or changed are written, entries missing from it are retired (kept, never deleted), and a
history row records each change. Loading the active catalog again writes nothing.

The charge path needs the parsed catalog on every call. Each process keeps the parsed active
catalog of a community with its version; the charge reads the active version number in the
same statement as the member's classes and keys (services/charging/reads.py) and parses the
catalog again only when the number moved, so a load in another process is seen by the very
next charge.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jeton.core import limits
from jeton.core.canonical import canonical_json
from jeton.core.catalog import Catalog, CatalogError, Service, catalog_from_data, load_catalog
from jeton.core.catalog_data import (
    achievements_to_data,
    catalog_to_data,
    plan_to_data,
    reward_to_data,
    service_to_data,
)
from jeton.core.clock import Clock, from_us, to_us
from jeton.core.errors import InvalidRequest, InvariantViolation, NotFound
from jeton.core.prices import BP_WHOLE
from jeton.core.rewards import Reward
from jeton.core.splits import PartKind
from jeton.core.statuses import Status
from jeton.services.charging.results import (
    CatalogErrorInfo,
    CatalogInfo,
    CatalogLoad,
    MoneyInfo,
    RewardInfo,
    ServiceInfo,
)
from jeton.store.dialect import StaleRead, is_unique_violation
from jeton.store.engine import Store, in_autocommit
from jeton.store.tables.achievements import achievement_rules
from jeton.store.tables.catalog import (
    catalog_entries,
    catalog_history,
    catalog_plan_terms,
    catalog_versions,
)
from jeton.store.tables.ledger import communities

CatalogFormat = Literal["toml", "yaml"]
_E = catalog_entries.c
_V = catalog_versions.c

_P = catalog_plan_terms.c
_SELECT_HEAD = sa.select(sa.func.max(_V.version)).where(_V.community_id == sa.bindparam("c"))
# The active catalog in one statement, so one snapshot: its head version, its entries and its
# plans' terms (read apart, a load committing in between mixed two versions).
_SELECT_ACTIVE = sa.union_all(
    sa.select(sa.literal_column("'head'"), sa.literal_column("''"),
              sa.cast(sa.func.coalesce(sa.func.max(_V.version), 0), sa.Text))
    .where(_V.community_id == sa.bindparam("c")),
    sa.select(_E.entry, _E.code, _E.definition_json).where(
        _E.community_id == sa.bindparam("c"), _E.retired_version.is_(None)),
    sa.select(sa.literal_column("'plan'"), _P.plan_id, _P.definition_json).where(
        _P.community_id == sa.bindparam("c"), _P.retired_version.is_(None)))
EMPTY = Catalog(services={}, rewards={})


def canonical(data: dict[str, Any]) -> str:
    """The one JSON text of an entry: two equal definitions are equal strings."""
    return canonical_json(data)


def build_catalog(entries: Iterable[Service | Reward]) -> Catalog:
    """A Catalog from services and rewards made in Python (codes must be unique)."""
    services: dict[str, Service] = {}
    rewards: dict[str, Reward] = {}
    for entry in entries:
        if entry.code in services or entry.code in rewards:
            raise InvalidRequest(f"{entry.code!r} is in the catalog twice",
                                 status=Status.catalog_invalid)
        if isinstance(entry, Service):
            services[entry.code] = entry
        else:
            rewards[entry.code] = entry
    return Catalog(services=services, rewards=rewards)


def catalog_invalid(errors: Iterable[CatalogError]) -> InvalidRequest:
    """The one error of a refused catalog, carrying every problem (`extra["errors"]`)."""
    found = [CatalogErrorInfo(line=e.line, where=e.where, reason=e.reason) for e in errors]
    first = str(CatalogError(found[0].line, found[0].where, found[0].reason)) if found else ""
    return InvalidRequest(f"the catalog has {len(found)} error(s); first: {first}",
                          status=Status.catalog_invalid,
                          errors=[e.model_dump() for e in found])


class Catalogs:
    """Catalog storage for one store, with the per-process cache of parsed active catalogs."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._cache: OrderedDict[str, tuple[int, Catalog]] = OrderedDict()
        self._lock = threading.Lock()

    # ---- loading ----

    def load(self, community_id: str, text: str, fmt: CatalogFormat = "toml", *,
             actor: str = "system", dry_run: bool = False) -> CatalogLoad:
        """Check a catalog file's text and make it the active version (see the module doc).

        Raises InvalidRequest (`catalog_invalid`) listing every error, with nothing written.
        """
        return self._store_catalog(community_id, self.parse(text, fmt), fmt, actor, dry_run)

    def put(self, community_id: str, catalog: Catalog | Iterable[Service | Reward], *,
            actor: str = "system", dry_run: bool = False) -> CatalogLoad:
        """Make a catalog built in Python the active version, checked like a file."""
        return self._store_catalog(community_id, self.checked(catalog), "python", actor,
                                   dry_run)

    @staticmethod
    def parse(text: str, fmt: CatalogFormat = "toml") -> Catalog:
        """A catalog file's text, checked; InvalidRequest (`catalog_invalid`) with every error
        and its line otherwise. What `load` and the catalog preview both accept."""
        if fmt not in ("toml", "yaml"):
            raise InvalidRequest(f"catalog format must be 'toml' or 'yaml', got {fmt!r}",
                                 status=Status.value_invalid)
        if not isinstance(text, str):
            raise InvalidRequest("a catalog is text", status=Status.value_invalid)
        result = load_catalog(text, fmt)
        if result.catalog is None:
            raise catalog_invalid(result.errors)
        return result.catalog

    @staticmethod
    def checked(catalog: Catalog | Iterable[Service | Reward]) -> Catalog:
        """A catalog built in Python, checked as its file would be."""
        built = catalog if isinstance(catalog, Catalog) else build_catalog(catalog)
        result = catalog_from_data(catalog_to_data(built))
        if result.catalog is None:
            raise catalog_invalid(result.errors)
        return result.catalog

    def _store_catalog(self, community_id: str, catalog: Catalog, fmt: str, actor: str,
                       dry_run: bool) -> CatalogLoad:
        entries: dict[str, tuple[str, str]] = {}
        for code, service in catalog.services.items():
            entries[code] = ("service", canonical(service_to_data(service)))
        for code, reward in catalog.rewards.items():
            entries[code] = ("reward", canonical(reward_to_data(reward)))
        terms = {pid: canonical(plan_to_data(t)) for pid, t in catalog.plans.items()}
        digest = hashlib.sha256(canonical(catalog_to_data(catalog)).encode()).hexdigest()
        # The gamification sections are stored whole, beside the entries (issue 17).
        rules = achievements_to_data(catalog)
        rules_text = canonical(rules) if rules else None
        now_us = to_us(self.clock.now())

        def tx(conn: Connection) -> CatalogLoad:
            if conn.execute(sa.select(communities.c.community_id).where(
                    communities.c.community_id == community_id)).first() is None:
                raise NotFound(f"no community {community_id!r}",
                               status=Status.community_not_found)
            head = conn.execute(_SELECT_HEAD, {"c": community_id}).scalar() or 0
            current = {r[0]: (r[1], r[2], r[3]) for r in conn.execute(
                sa.select(_E.code, _E.entry, _E.definition_json, _E.retired_version).where(
                    _E.community_id == community_id))}
            added = sorted(code for code in entries
                           if code not in current or current[code][2] is not None)
            updated = sorted(code for code, (kind, text) in entries.items()
                             if code in current and current[code][2] is None
                             and (current[code][0], current[code][1]) != (kind, text))
            retired = sorted(code for code, row in current.items()
                             if row[2] is None and code not in entries)
            rules_before = conn.execute(sa.select(achievement_rules.c.definition_json).where(
                achievement_rules.c.community_id == community_id)).scalar()
            rules_changed = rules_before != rules_text
            plans_now = {r[0]: r[1] for r in conn.execute(
                sa.select(_P.plan_id, _P.definition_json).where(
                    _P.community_id == community_id, _P.retired_version.is_(None)))}
            plan_changes = {pid: text for pid, text in terms.items()
                            if plans_now.get(pid) != text}
            plans_gone = sorted(set(plans_now) - set(terms))
            added += [f"plan:{p}" for p in sorted(plan_changes) if p not in plans_now]
            updated += [f"plan:{p}" for p in sorted(plan_changes) if p in plans_now]
            retired += [f"plan:{p}" for p in plans_gone]
            n_services, n_rewards = len(catalog.services), len(catalog.rewards)
            if head and not (added or updated or retired or rules_changed):
                return CatalogLoad(version=head, changed=False, dry_run=dry_run,
                                   services=n_services, rewards=n_rewards)
            version = head + 1
            outcome = CatalogLoad(version=version, changed=True, added=added, updated=updated,
                                  retired=retired, dry_run=dry_run, services=n_services,
                                  rewards=n_rewards)
            if dry_run:
                return outcome
            conn.execute(catalog_versions.insert().values(
                community_id=community_id, version=version, source_format=fmt,
                source_sha256=digest, changed=len(added) + len(updated), retired=len(retired),
                actor=actor[:100], loaded_at_us=now_us, services=n_services,
                rewards=n_rewards))
            history: list[dict[str, Any]] = []
            for pid, text in sorted(plan_changes.items()):
                conn.execute(catalog_plan_terms.delete().where(
                    _P.community_id == community_id, _P.plan_id == pid))
                conn.execute(catalog_plan_terms.insert().values(
                    community_id=community_id, plan_id=pid, definition_json=text,
                    since_version=version, retired_version=None, updated_at_us=now_us))
                history.append({"community_id": community_id, "version": version,
                                "code": f"plan:{pid}", "entry": "plan", "definition_json": text,
                                "change": "changed" if pid in plans_now else "added"})
            for pid in plans_gone:
                conn.execute(catalog_plan_terms.update().where(
                    _P.community_id == community_id, _P.plan_id == pid).values(
                    retired_version=version, updated_at_us=now_us))
                history.append({"community_id": community_id, "version": version,
                                "code": f"plan:{pid}", "entry": "plan", "change": "retired",
                                "definition_json": None})
            for code in added + updated:
                if code.startswith("plan:"):
                    continue
                kind, text = entries[code]
                row = _entry_row(community_id, code, kind, text, version, now_us)
                if code in current:
                    # The key stays out of SET: Citus refuses any UPDATE that sets the
                    # distribution column, even to the value it has.
                    changed = {k: v for k, v in row.items() if k not in ("community_id", "code")}
                    conn.execute(catalog_entries.update().where(
                        _E.community_id == community_id, _E.code == code).values(**changed))
                else:
                    conn.execute(catalog_entries.insert().values(**row))
                history.append({"community_id": community_id, "version": version, "code": code,
                                "change": "changed" if code in updated else "added",
                                "entry": kind, "definition_json": text})
            for code in retired:
                if code.startswith("plan:"):
                    continue
                conn.execute(catalog_entries.update().where(
                    _E.community_id == community_id, _E.code == code).values(
                    retired_version=version, updated_at_us=now_us))
                history.append({"community_id": community_id, "version": version, "code": code,
                                "change": "retired", "entry": current[code][0],
                                "definition_json": None})
            if history:
                conn.execute(catalog_history.insert(), history)
            if rules_changed:
                conn.execute(achievement_rules.delete().where(
                    achievement_rules.c.community_id == community_id))
                if rules_text is not None:
                    conn.execute(achievement_rules.insert().values(
                        community_id=community_id, catalog_version=version,
                        definition_json=rules_text, updated_at_us=now_us))
            return outcome

        if dry_run:
            with self.store.read() as conn:
                return tx(conn)
        for attempt in range(3):
            try:
                done = self.store.run_write(tx)
            except sa.exc.IntegrityError as exc:
                # Another load took this version number first: load again on top of it.
                if attempt < 2 and is_unique_violation(exc):
                    continue
                raise
            if done.changed:
                self._remember(community_id, done.version, catalog)
            return done
        raise InvariantViolation("unreachable: the last attempt returns or raises")

    # ---- the active catalog (the charge path) ----

    def active(self, conn: Connection, community_id: str, version: int) -> Catalog:
        """The parsed catalog of `version`, which the caller read as the active one on `conn`.

        Read from the database (not this process's cache), the catalog may have moved on since
        the caller read `version` (a load committed in between, on PostgreSQL): inside a
        write (a charge, a renewal) that is a `StaleRead` and the write runs again, so what it
        charges and the version it names are one catalog's; a read in autocommit (`Store.read`,
        each statement its own snapshot) gets the newest catalog. In a snapshot the two cannot
        differ. Either way it is kept under its own version."""
        if version == 0:
            return EMPTY
        with self._lock:
            found = self._cache.get(community_id)
            if found is not None and found[0] == version:
                self._cache.move_to_end(community_id)
                return found[1]
        data: dict[str, dict[str, Any]] = {"services": {}, "rewards": {}}
        plans: dict[str, Any] = {}
        head = 0
        for kind, code, text in conn.execute(_SELECT_ACTIVE, {"c": community_id}):
            if kind == "head":
                head = int(text)
            elif kind == "plan":
                plans[code] = json.loads(text)
            else:
                data["services" if kind == "service" else "rewards"][code] = json.loads(text)
        if plans:
            data["plans"] = plans
        if head != version and not in_autocommit(conn):
            raise StaleRead(f"the catalog of {community_id!r} moved from version {version} to "
                            f"{head} during the write")
        catalog = catalog_from_data(data).catalog if head else EMPTY
        if catalog is None:
            raise InvariantViolation(f"the stored catalog of {community_id!r} does not check")
        self._remember(community_id, head, catalog)
        return catalog

    def head(self, conn: Connection, community_id: str) -> int:
        return int(conn.execute(_SELECT_HEAD, {"c": community_id}).scalar() or 0)

    def current(self, community_id: str) -> tuple[int, Catalog]:
        """The active version and catalog, read now."""
        with self.store.read() as conn:
            version = self.head(conn, community_id)
            return version, self.active(conn, community_id, version)

    def forget(self, community_id: str) -> None:
        with self._lock:
            self._cache.pop(community_id, None)

    def _remember(self, community_id: str, version: int, catalog: Catalog) -> None:
        with self._lock:
            known = self._cache.get(community_id)
            if known is not None and known[0] > version:
                return  # a newer version is already here
            self._cache[community_id] = (version, catalog)
            self._cache.move_to_end(community_id)
            while len(self._cache) > limits.catalog_cache_entries_max:
                self._cache.popitem(last=False)

    # ---- showing ----

    def info(self, community_id: str, *, include_retired: bool = False) -> CatalogInfo:
        """The active catalog for people and the API (and, asked, the retired entries).

        One statement, so one snapshot: the community with its head version (no row: no such
        community), then its entries. Read apart, a load committing in between showed one
        version's number beside the next one's entries."""
        latest = (sa.select(_V.version, _V.loaded_at_us).where(_V.community_id == community_id)
                  .order_by(_V.version.desc()).limit(1).subquery())
        head = (sa.select(sa.literal_column("'head'").label("kind"),
                          sa.literal_column("''").label("code"),
                          sa.null().label("definition_json"), sa.null().label("retired_version"),
                          latest.c.version, latest.c.loaded_at_us)
                .select_from(communities.outerjoin(latest, sa.true()))
                .where(communities.c.community_id == community_id))
        entries = sa.select(_E.entry, _E.code, _E.definition_json, _E.retired_version,
                            sa.null(), sa.null()).where(_E.community_id == community_id)
        if not include_retired:
            entries = entries.where(_E.retired_version.is_(None))
        both = sa.union_all(head, entries)
        with self.store.read() as conn:
            rows = conn.execute(both.order_by(both.selected_columns.code)).all()
        top = next((r for r in rows if r.kind == "head"), None)
        if top is None:
            raise NotFound(f"no community {community_id!r}", status=Status.community_not_found)
        services: list[ServiceInfo] = []
        rewards: list[RewardInfo] = []
        for kind, code, text, retired_version, _, _ in rows:
            if kind == "head":
                continue
            definition = json.loads(text)
            parsed = catalog_from_data({f"{kind}s": {code: definition}}).catalog
            if parsed is None:
                raise InvariantViolation(f"the stored entry {code!r} does not check")
            if kind == "service":
                services.append(service_info(parsed.services[code], definition,
                                             retired=retired_version is not None))
            else:
                r = parsed.rewards[code]
                rewards.append(RewardInfo(code=code, name=r.name, credits=r.credits,
                                          limit=r.limit, per=r.period.value,
                                          retired=retired_version is not None))
        return CatalogInfo(version=top.version or 0,
                           loaded_at=from_us(top.loaded_at_us) if top.version else None,
                           services=services, rewards=rewards)


def service_info(service: Service, definition: dict[str, Any], *,
                 retired: bool = False) -> ServiceInfo:
    price = service.price
    allowance = None
    if service.allowance is not None:
        a = service.allowance
        allowance = f"{a.uses} per {a.period.value}, then {a.after.value}"
    splits = [f"{p.target} {p.value / BP_WHOLE:.2%}" if p.kind is PartKind.share
              else f"{p.target} {p.value} credit(s)" for p in service.splits]
    return ServiceInfo(
        code=service.code, name=service.name, price_kind=price.kind.value, credits=price.credits,
        unit_size=price.unit_size, unit=service.unit,
        class_credits={cp.member_class: cp.credits for cp in price.class_prices},
        money=(MoneyInfo(currency=price.money.currency, amount_minor=price.money.amount_minor)
               if price.money is not None else None),
        access=service.access.level.value, any_of=[str(r) for r in service.access.any_of],
        allowance=allowance, splits=splits, retired=retired, definition=definition)


def _entry_row(community_id: str, code: str, kind: str, text: str, version: int,
               now_us: int) -> dict[str, Any]:
    data = json.loads(text)
    access = data.get("access", {}).get("level", "open") if kind == "service" else None
    allowance = data.get("allowance", {}).get("per") if kind == "service" else None
    return {"community_id": community_id, "code": code, "entry": kind, "name": data["name"],
            "price_kind": data.get("kind", "fixed") if kind == "service" else None,
            "list_credits": data["credits"], "access_level": access,
            "allowance_per": allowance, "definition_json": text, "since_version": version,
            "retired_version": None, "updated_at_us": now_us}
