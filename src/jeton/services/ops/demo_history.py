"""Sixty days of demo history, so the owner's reports and charts have something to show.

Members join day by day, buy packs through the demo provider (the real checkout and webhook
path), subscribe to the monthly plan (charged off-session and renewed by the renewal job),
chat, download, post ads and watch video, and their expiring credits expire. Every day runs on
a `ManualClock` set to that day: a second `Jeton` over the same store with that clock writes
the history with its own business times, and the jobs (expiry, renewals) run as the days pass,
as `jeton serve` would have run them.

Fast: one member's day of use is one item of a `spend_batch` per day for the whole community
(one transaction), not one charge each; the history is about 60 batches, 40 members, 50
purchases and a dozen subscriptions, about a second on SQLite.

Deterministic: a fixed seed picks who does what, and the days are counted back from today's
date at fixed hours, so two demos made on the same day hold the same history (ids aside).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa

from jeton.app import Community, Jeton
from jeton.core.clock import ManualClock
from jeton.core.errors import InvariantViolation, invariant
from jeton.payments.offline import DEMO_METHOD_OK, DemoProvider
from jeton.store.engine import Store

HISTORY_DAYS = 60
HISTORY_MEMBERS = 40
SIGNUP_BONUS = 30  # free credits each joining member gets, expiring 14 days later
SIGNUP_BONUS_DAYS = 14
_SEED = 13  # the issue that asked for this history; any fixed number would do
_FIRST_NAMES = ("Ana", "Ben", "Chloe", "Dan", "Eva", "Finn", "Gus", "Hana", "Ivo", "Jana",
                "Kai", "Lea", "Max", "Nora", "Oli", "Pia", "Quinn", "Rosa", "Sam", "Tess")
# (service, credits per use, uses a day up to): plain spends at the demo catalog's prices.
_USES = (("chat.message", 1, 12), ("files.download", 3, 3), ("classifieds.ad", 10, 1),
         ("mall.sticker_pack", 30, 1), ("video.minute", 20, 6))


def seed_history(j: Jeton, c: Community) -> None:
    """Write the history of `c`: HISTORY_DAYS days ending yesterday."""
    today = j.clock.now().astimezone(UTC).date()
    start = datetime.combine(today - timedelta(days=HISTORY_DAYS), time(8, 0), tzinfo=UTC)
    clock = ManualClock(start)
    # Its own payment providers, on its clock; credits still go through the webhook handler.
    store = _seeding_store(j.store)
    past = Jeton(store, clock=clock, settings=j.settings)
    pc = past.community(c.id)
    demo_provider = past.payments.get("demo")
    if not isinstance(demo_provider, DemoProvider):
        raise InvariantViolation("the demo provider is always registered")
    rng = random.Random(_SEED)
    packs = [p.id for p in pc.list_packs()]
    plan_ids = [p.id for p in pc.list_plans()]
    joined: list[str] = []
    for day in range(HISTORY_DAYS):
        morning = start + timedelta(days=day)
        clock.set(morning)
        pc.run_expiry()
        pc.run_funding_jobs()  # plan renewals fall due here
        # New members: most join in the first weeks, a few later.
        for _ in range(_joiners(rng, day, len(joined))):
            member_id = f"member-{len(joined) + 1:02d}"
            name = f"{_FIRST_NAMES[len(joined) % len(_FIRST_NAMES)]} ({member_id})"
            pc.create_member(member_id, name=name)
            pc.grant(member_id, SIGNUP_BONUS, idempotency_key=f"demo-h-bonus-{member_id}",
                     source="welcome", memo="Sign-up bonus",
                     expires_at=morning + timedelta(days=SIGNUP_BONUS_DAYS))
            joined.append(member_id)
            if plan_ids and rng.random() < 0.3:
                pc.set_payment_method(member_id, provider="demo", customer_id=f"cus-{member_id}",
                                      payment_method_id=DEMO_METHOD_OK)
                pc.subscribe(member_id, plan_ids[0], provider="demo",
                             idempotency_key=f"demo-h-sub-{member_id}")
        clock.set(morning + timedelta(hours=3))
        # A pack bought by about one member in 25 a day, through the demo checkout.
        for member_id in joined:
            if packs and rng.random() < 0.04:
                pack_id = rng.choice(packs)
                checkout = pc.buy_pack(member_id, pack_id, provider="demo",
                                       idempotency_key=f"demo-h-buy-{day}-{member_id}",
                                       success_url="https://demo.example/thanks",
                                       cancel_url="https://demo.example/store")
                invariant(checkout.session_id is not None, "a demo checkout has a session")
                demo_provider.complete_checkout(str(checkout.session_id))
        clock.set(morning + timedelta(hours=9))
        items = []
        for member_id in joined:
            if rng.random() < 0.5:
                continue
            service, price, most = _USES[rng.randrange(len(_USES))]
            uses = rng.randint(1, most)
            items.append({"member": member_id, "amount": price * uses, "service": service,
                          "idempotency_key": f"demo-h-use-{day}-{member_id}",
                          "memo": f"{uses} × {service}"})
        if items:
            pc.spend_batch(items, actor="demo")  # a member short of credits is declined: fine
    past.payments.close()
    if store is not j.store:
        store.dispose()


def _seeding_store(store: Store) -> Store:
    """On an SQLite file, a second store on it with `synchronous=NORMAL`: the history is some
    900 small transactions, and waiting for the disk after each one would take most of the
    first start (decision 0045). WAL keeps each one atomic; the writes after it (today's) are
    durable again, and a power cut in the middle of seeding loses only demo history."""
    if store.dialect != "sqlite" or sa.make_url(store.url).database in (None, "", ":memory:"):
        return store
    return Store(store.url, sqlite_synchronous="NORMAL", pool_size=1)


def _joiners(rng: random.Random, day: int, so_far: int) -> int:
    if so_far >= HISTORY_MEMBERS:
        return 0
    if day < 20:
        return rng.choice((0, 1, 1, 2))
    return rng.choice((0, 0, 0, 1))
