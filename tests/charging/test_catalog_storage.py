"""The catalog as an owner keeps it: files loaded whole or not at all, versions, retirement."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

import jeton
from jeton.core.access import AccessLevel, AccessRule, Requirement
from jeton.core.allowances import AfterAllowance, Allowance, Period
from jeton.core.catalog import Catalog, Service, catalog_from_data
from jeton.core.catalog_data import catalog_to_data
from jeton.core.prices import PriceKind, PriceRule
from jeton.core.rewards import Reward
from jeton.core.splits import SplitPart, Target
from jeton.store.engine import Store
from jeton.store.tables.catalog import catalog_entries, catalog_history
from meanwhile import write_after
from strategies import price_rules, split_parts

from .conftest import SHOP_CATALOG, Check, counts

BROKEN = """
[services."chat.message"]
name = "Chat message"
credits = "one"

[services."files.download"]
name = "File download"
kind = "per_unit"
credits = 1
splits = [{ to = "uploader", share_bp = 3000 }]

[services."video.minute"]
credits = 20
"""


def test_a_catalog_with_mistakes_reports_every_one_with_its_line_and_changes_nothing(
        shop: jeton.Community, store: Store) -> None:
    before = counts(store)
    with pytest.raises(jeton.InvalidRequest) as refused:
        shop.load_catalog(BROKEN, "toml")
    assert refused.value.status is jeton.Status.catalog_invalid
    errors = refused.value.extra["errors"]
    assert [(e["line"], e["where"]) for e in errors] == [
        (4, 'services."chat.message".credits'),
        (10, 'services."files.download".splits[0].to'),
        (12, 'services."video.minute"'),
    ]
    assert "name is required" in errors[2]["reason"]
    assert counts(store) == before
    assert shop.catalog().version == 1


def test_loading_the_same_catalog_again_writes_nothing(shop: jeton.Community,
                                                       store: Store) -> None:
    before = counts(store)
    again = shop.load_catalog(SHOP_CATALOG, "toml")
    assert (again.version, again.changed) == (1, False)
    assert counts(store) == before


def test_a_service_left_out_of_a_new_catalog_is_retired_not_deleted(
        shop: jeton.Community, store: Store, invariants: Check) -> None:
    shop.grant("alice", 100, idempotency_key="g")
    ad = shop.charge("alice", "classifieds.ad", idempotency_key="ad-1")
    without_ads = SHOP_CATALOG.replace('[services."classifieds.ad"]',
                                       '[services."classifieds.listing"]')
    loaded = shop.load_catalog(without_ads.replace("Classified ad", "Listing"), "toml")
    assert (loaded.version, loaded.added, loaded.retired) == (
        2, ["classifieds.listing"], ["classifieds.ad"])
    with pytest.raises(jeton.NotFound):
        shop.charge("alice", "classifieds.ad", idempotency_key="ad-2")
    assert shop.get_transfer(ad.id).service == "classifieds.ad"  # the old charge still says so
    shown = shop.catalog(include_retired=True)
    retired = [s.code for s in shown.services if s.retired]
    assert retired == ["classifieds.ad"]
    assert "classifieds.ad" not in [s.code for s in shop.catalog().services]
    with store.read() as conn:
        rows = conn.execute(sa.select(catalog_history.c.version, catalog_history.c.code,
                                      catalog_history.c.change).where(
            catalog_history.c.version == 2).order_by(catalog_history.c.code)).all()
    assert [tuple(r) for r in rows] == [(2, "classifieds.ad", "retired"),
                                        (2, "classifieds.listing", "added")]
    back = shop.load_catalog(SHOP_CATALOG, "toml")
    assert (back.version, back.added) == (3, ["classifieds.ad"])
    assert shop.charge("alice", "classifieds.ad", idempotency_key="ad-3").charged == 10
    invariants(store)


def test_a_price_change_is_seen_by_the_very_next_charge_of_another_process(
        shop: jeton.Community, store: Store) -> None:
    shop.grant("alice", 100, idempotency_key="g")
    assert shop.charge("alice", "classifieds.ad", idempotency_key="ad-1").charged == 10
    other = jeton.Jeton(store, clock=shop.jeton.clock).community("shop")
    changed = other.load_catalog(SHOP_CATALOG.replace("credits = 10\nmoney", "credits = 12\nmoney"))
    assert changed.updated == ["classifieds.ad"]
    assert shop.charge("alice", "classifieds.ad", idempotency_key="ad-2").charged == 12


def test_a_catalog_defined_in_python_is_checked_and_stored_like_a_file(
        j: jeton.Jeton, store: Store, invariants: Check) -> None:
    club = j.create_community("Club", community_id="club")
    club.create_member("ann")
    club.grant("ann", 50, idempotency_key="g")
    services: list[Service | Reward] = [
        Service("chat.message", "Chat message", PriceRule(PriceKind.fixed, 1),
                allowance=Allowance(2, Period.day, AfterAllowance.charge)),
        Service("room.vip", "VIP room", PriceRule(PriceKind.fixed, 5),
                access=AccessRule(AccessLevel.locked, (Requirement.parse("class:vip"),))),
        Reward("poll.completed", "Poll completed", 5, 3, Period.day),
    ]
    loaded = club.set_catalog(services)
    assert (loaded.version, loaded.services, loaded.rewards) == (1, 2, 1)
    assert club.set_catalog(services).changed is False
    toml_twin = """
[services."chat.message"]
name = "Chat message"
credits = 1
allowance = { uses = 2, per = "day" }

[services."room.vip"]
name = "VIP room"
credits = 5
access = { level = "locked", any_of = ["class:vip"] }

[rewards."poll.completed"]
name = "Poll completed"
credits = 5
limit = 3
per = "day"
"""
    assert club.load_catalog(toml_twin, "toml").changed is False  # the same catalog
    bad = [Service("files.download", "Download", PriceRule(PriceKind.fixed, 1),
                   splits=(SplitPart.fee(Target.parse("account:appstore"), 5),))]
    with pytest.raises(jeton.InvalidRequest) as refused:
        club.set_catalog(bad)
    assert "split" in refused.value.extra["errors"][0]["reason"]
    assert club.charge("ann", "chat.message", idempotency_key="m1").charged == 0
    invariants(store)


def test_a_yaml_catalog_loads_like_toml(j: jeton.Jeton) -> None:
    c = j.create_community("Yaml", community_id="yaml")
    loaded = c.load_catalog(
        "services:\n"
        "  files.download:\n"
        "    name: File download\n"
        "    kind: per_unit\n"
        "    credits: 1\n"
        "    unit_size: 1024\n"
        "    splits:\n"
        "      - {to: 'party:uploader', share_bp: 3000}\n", "yaml")
    assert loaded.services == 1
    shown = c.catalog().services[0]
    assert (shown.code, shown.price_kind, shown.unit_size, shown.splits) == (
        "files.download", "per_unit", 1024, ["party:uploader 30.00%"])
    with pytest.raises(jeton.InvalidRequest) as refused:
        c.load_catalog("services:\n  x:\n    name: X\n    credits: one\n", "yaml")
    assert [(e["line"], e["where"]) for e in refused.value.extra["errors"]] == [
        (4, "services.x.credits")]


def test_the_stored_definition_is_the_catalog_file_shape(shop: jeton.Community,
                                                         store: Store) -> None:
    with store.read() as conn:
        text = conn.execute(sa.select(catalog_entries.c.definition_json).where(
            catalog_entries.c.code == "video.minute")).scalar_one()
    assert json.loads(text) == {
        "name": "Video consultation", "kind": "per_unit", "credits": 20, "unit_size": 1,
        "unit": "minute", "class_credits": {"seller": 10},
        "money": {"currency": "USD", "amount_minor": 25}}


@settings(max_examples=200, deadline=None)
@given(rule=price_rules(pays_member=False), parts=split_parts(fees_max=1),
       uses=st.integers(1, 50), per=st.sampled_from(Period))
def test_any_valid_service_survives_the_trip_to_stored_data_and_back(
        rule: PriceRule, parts: list[SplitPart], uses: int, per: Period) -> None:
    service = Service("some.service", "Some service", rule,
                      allowance=Allowance(uses, per), splits=tuple(parts))
    catalog = Catalog(services={"some.service": service}, rewards={})
    checked = catalog_from_data(catalog_to_data(catalog))
    if checked.catalog is None:  # the splits do not fit in a price: refused like a file
        assert any("split" in e.reason for e in checked.errors)
        return
    assert dict(checked.catalog.services) == {"some.service": service}
    assert json.loads(json.dumps(catalog_to_data(checked.catalog))) == catalog_to_data(catalog)


_PRICED = '[services."chat.message"]\nname = "A message"\ncredits = {}\n'


def _a_load_between_two_reads(store: Store, monkeypatch: pytest.MonkeyPatch,
                              ) -> tuple[jeton.Community, list[int]]:
    """A community on catalog version 1 (2 credits a message) in a process that has not read
    it yet, and another process's load of version 2 (5 credits) committing right after the
    next caller read the active version and before it reads the entries; the list gets the
    version loaded."""
    j = jeton.Jeton(store)
    shop = j.create_community("Loads", "loads")
    shop.create_member("ann")
    shop.grant("ann", 100, idempotency_key="g")
    shop.load_catalog(_PRICED.format(2))
    catalogs = j.charging.catalogs
    catalogs._cache.clear()
    active = catalogs.active
    loads: list[int] = []

    def loaded_meanwhile(conn: sa.Connection, community_id: str, version: int) -> Catalog:
        if not loads:
            loads.append(shop.load_catalog(_PRICED.format(5)).version)
        return active(conn, community_id, version)

    monkeypatch.setattr(catalogs, "active", loaded_meanwhile)
    return shop, loads


@pytest.mark.postgres
def test_a_charge_during_a_catalog_load_charges_and_names_one_version(
        pg_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL a catalog load may commit between a charge's read of the active version
    and its read of the entries: the charge runs again, so the price it takes and the version
    it names in its transfer are the same catalog's."""
    shop, loads = _a_load_between_two_reads(pg_store, monkeypatch)
    receipt = shop.charge("ann", "chat.message", idempotency_key="during")
    assert loads == [2]
    assert receipt.charged == 5
    with pg_store.read() as conn:
        meta = conn.execute(sa.text(
            "SELECT metadata_json FROM transfers WHERE community_id = 'loads' "
            "AND transfer_id = :t"), {"t": receipt.transfer_id}).scalar_one()
    assert json.loads(meta)["catalog_version"] == 2


@pytest.mark.postgres
def test_a_check_during_a_catalog_load_answers_with_the_newest_catalog(
        pg_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read (a check, the member's catalog) runs each statement in a snapshot of its own on
    PostgreSQL: a load between its reads gives it the newest catalog, never an error."""
    shop, loads = _a_load_between_two_reads(pg_store, monkeypatch)
    answer = shop.check("ann", "chat.message")
    assert loads == [2]
    assert answer.allowed
    assert answer.price is not None
    assert answer.price.credits == 5


def test_the_catalog_shown_during_a_load_is_one_versions(store: Store) -> None:
    """The catalog shown (its version and its entries) is one read: a load committing while
    it is read shows as the old version with the old prices, never the old number beside the
    new prices."""
    shop = jeton.Jeton(store).create_community("Loads", "loads")
    shop.load_catalog(_PRICED.format(2))
    with write_after(store, "FROM catalog_versions",
                     lambda: shop.load_catalog(_PRICED.format(5)).version) as loads:
        shown = shop.catalog()
    assert loads == [2]  # version 2 committed after the head version was read
    assert (shown.version, [s.credits for s in shown.services]) == (1, [2])
    again = shop.catalog()
    assert (again.version, [s.credits for s in again.services]) == (2, [5])
