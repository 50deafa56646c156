"""Fixtures for gamification scenarios: a file library whose owner rewards activity.

- `j`: a Jeton on the `store` fixture (SQLite, and PostgreSQL when configured) with a movable
  clock (15 January 2026, a Thursday, at noon); webhooks may go to 127.0.0.1.
- `library`: community `library` with members alice, bob and carol, an `appstore` account, and
  the LIBRARY catalog below: downloads pay the uploader 30 %, polls are rewarded, and the
  owner's rules give points, badges, levels and a weekly challenge.
"""

from __future__ import annotations

import pytest

import jeton
from jeton.config import Settings
from jeton.core.clock import ManualClock
from jeton.store.engine import Store

LIBRARY = """
[services."files.download"]
name = "File download"
credits = 10
splits = [{ to = "party:uploader", share_bp = 3000 }]

[services."chat.message"]
name = "Chat message"
credits = 1

[rewards."poll.completed"]
name = "Poll completed"
credits = 2
limit = 5
per = "day"

# 5 points a download, 1 point a credit received from another member, 20 a purchase,
# 3 a poll, and 25 each time a member's run of daily charges reaches 3 days.
[points."downloads"]
on = "charge"
service = "files.download"
points = 5

[points."gifts"]
on = "transfer_received"
points = 1
per_credit = true

[points."purchases"]
on = "purchase"
points = 20

[points."polls"]
on = "reward"
service = "poll.completed"
points = 3

[points."regular"]
on = "streak"
days = 3
points = 25

[badges."bookworm"]
name = "Bookworm"
emoji = "📚"
description = "Three downloads"
rule = { uses = 3, service = "files.download" }

[badges."supporter"]
name = "Supporter"
emoji = "💳"
description = "A first purchase"
rule = { purchases = 1 }

[badges."author"]
name = "Author"
image_url = "/static/author.png"
description = "Earned 5 credits of royalties"
rule = { royalties = 5 }

[badges."weekly-reader"]
name = "Weekly reader"
rule = { uses = 1000 }

[[levels]]
name = "Newcomer"
points = 0

[[levels]]
name = "Reader"
points = 10

[[levels]]
name = "Scholar"
points = 50

[challenges."four-downloads"]
name = "Four downloads this week"
goal = { uses = 4, service = "files.download" }
per = "week"
reward = { credits = 15, points = 10, badge = "weekly-reader" }
"""


@pytest.fixture
def j(store: Store, clock: ManualClock) -> jeton.Jeton:
    return jeton.Jeton(store, clock=clock, settings=Settings(webhooks_allow_private=True))


@pytest.fixture
def library(j: jeton.Jeton) -> jeton.Community:
    c = j.create_community("Library", community_id="library")
    c.create_account("appstore")
    for member, name in (("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")):
        c.create_member(member, name=name)
    c.load_catalog(LIBRARY, "toml")
    return c
