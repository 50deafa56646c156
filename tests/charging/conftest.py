"""Fixtures for charging scenarios: a shop and a file library whose members pay per action.

- `j`: a Jeton on the `store` fixture (SQLite, and PostgreSQL when configured) with a movable
  clock; webhooks may go to 127.0.0.1 (for the charge.declined tests).
- `shop`: community `shop` (whole credits) with members alice, bob, carol and dave, an
  `appstore` account and the SHOP catalog below.
- `library`: community `library` priced in thousandths of a credit (CREDIT/3), so that 30 % of
  a 3-credit download is a royalty of 0.9 credit, with members reader and uploader.
- Scenarios check every ledger invariant after each step with the `invariants` fixture of
  tests/conftest.py (typed `Check`); `ok(store)` does the same where a fixture cannot reach
  (inside Hypothesis examples). `counts(store)`: how many rows each table has, to show that
  something wrote nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import jeton
from conftest import counts as counts  # shared: tests/conftest.py
from jeton.config import Settings
from jeton.core.clock import ManualClock
from jeton.store.engine import Store

SHOP_CATALOG = """
[services."chat.message"]
name = "Chat message"
credits = 1
allowance = { uses = 5, per = "session" }

[services."chat.teaser"]
name = "Teaser room message"
credits = 2
allowance = { uses = 3, per = "day", after = "prompt" }

[services."chat.private_room"]
name = "Private room"
credits = 20
access = { level = "hidden", any_of = ["class:vip"] }

[services."chat.lounge"]
name = "VIP lounge"
credits = 50
access = { level = "locked", any_of = ["class:vip", "payment"] }

[services."files.archive"]
name = "Archive download"
credits = 5
access = { level = "locked", any_of = ["key:archive"] }

[services."files.promoted"]
name = "Promoted file download"
credits = -2

[services."classifieds.ad"]
name = "Classified ad"
credits = 10
money = { currency = "USD", amount_minor = 100 }

[services."video.minute"]
name = "Video consultation"
kind = "per_unit"
credits = 20
unit = "minute"
class_credits = { seller = 10 }
money = { currency = "USD", amount_minor = 25 }

[services."video.trial"]
name = "Trial video"
kind = "per_unit"
credits = 5
unit = "minute"
allowance = { uses = 3, per = "day" }

[services."consult.minute"]
name = "Expert consultation"
kind = "per_unit"
credits = 10
unit = "minute"
splits = [{ to = "party:expert", share_bp = 5000 }, { to = "account:appstore", fee = 1 }]

[rewards."poll.completed"]
name = "Poll completed"
credits = 5
limit = 3
per = "day"

[rewards."files.uploaded"]
name = "File uploaded"
credits = 10
limit = 10
per = "day"
"""

LIBRARY_CATALOG = """
[services."files.download"]
name = "File download"
kind = "per_unit"
credits = 1000          # one credit (1,000 thousandths) per started KiB
unit_size = 1024
unit = "byte"
splits = [
  { to = "party:uploader", share_bp = 3000 },   # 30 % to whoever uploaded the file
  { to = "account:appstore", fee = 500 },       # half a credit to the app store
]
"""


Check = Callable[[Store], None]


@pytest.fixture
def j(store: Store, clock: ManualClock) -> jeton.Jeton:
    return jeton.Jeton(store, clock=clock, settings=Settings(webhooks_allow_private=True))


@pytest.fixture
def shop(j: jeton.Jeton) -> jeton.Community:
    c = j.create_community("Shop", community_id="shop")
    c.create_account("appstore")
    for member in ("alice", "bob", "carol", "dave"):
        c.create_member(member)
    c.load_catalog(SHOP_CATALOG, "toml")
    return c


@pytest.fixture
def library(j: jeton.Jeton) -> jeton.Community:
    c = j.create_community("Library", community_id="library", scale=3)
    c.create_account("appstore")
    for member in ("reader", "uploader"):
        c.create_member(member)
    c.load_catalog(LIBRARY_CATALOG, "toml")
    return c
