"""Sixteen writers on one member at once: a velocity limit is never exceeded, on PostgreSQL.

The counters are raised under the wallet's row lock in each spend's own transaction, so the
racing charges of one member are counted one after another; a charge that would pass the limit
is declined, and exactly as many succeed as the limit allows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from functools import partial

import jeton
from jeton.core.clock import ManualClock
from jeton.store.engine import Store
from threads import run_together

from .conftest import SHOP_CATALOG, Check

THREADS = 16


def test_sixteen_writers_never_spend_past_the_limits(server_store: Store,
                                                     invariants: Check) -> None:
    clock = ManualClock()
    shop = jeton.Jeton(server_store, clock=clock).create_community("Race", "race")
    shop.create_member("alice")
    shop.load_catalog(SHOP_CATALOG, "toml")
    shop.set_velocity_limit(per_hour=97)
    shop.set_velocity_limit(service="classifieds.ad", per_hour=60)
    shop.grant("alice", 10_000, idempotency_key="g")
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(write: Callable[[], object]) -> None:
        try:
            write()
            result = "ok"
        except jeton.VelocityLimitExceeded as exc:
            result = f"declined:{exc.extra['service'] or '*'}"
        with lock:
            outcomes.append(result)

    # 96 spends of 3 against 97 an hour: exactly 32 fit (96), every other one is declined.
    def spends(i: int) -> None:
        for n in range(6):
            key = f"s{i}-{n}"
            attempt(partial(shop.spend, "alice", 3, idempotency_key=key))

    assert run_together(THREADS, spends) == []
    assert outcomes.count("ok") == 32
    assert outcomes.count("declined:*") == THREADS * 6 - 32
    assert shop.balance("alice").posted == 10_000 - 96
    invariants(server_store)

    # The next hour, 48 ads of 10 against the ads' 60: exactly 6 fit.
    clock.advance(timedelta(hours=1))
    outcomes.clear()
    def ads(i: int) -> None:
        for n in range(3):
            key = f"ad{i}-{n}"
            attempt(partial(shop.charge, "alice", "classifieds.ad", idempotency_key=key))

    assert run_together(THREADS, ads) == []
    assert outcomes.count("ok") == 6
    assert outcomes.count("declined:classifieds.ad") == THREADS * 3 - 6
    assert shop.balance("alice").posted == 10_000 - 96 - 60
    invariants(server_store)
