"""The demo community (`jeton demo`): everything Jeton charges for, at once, in one community.

`load_demo(j)` builds community `demo`: the CREDIT asset, an `appstore` account, five members
(alice the regular with a VIP class, bob who uploads files, carol who sells, dave who buys, mia
the moderator), the demo catalog (core/demo_catalog.toml: a chat room, private rooms, a file
library with royalties, classifieds, a mall, video consultations, rewards), classes and keys,
welcome credits, and a handful of charges so that a new user sees balances, royalties, free
allowances, a metered call, rewards, and the points, badges and levels they earned in the
dashboard straight away. Before today, sixty days
of history (demo_history.py: members joining, packs bought, plans renewing, use, expiry) give
the reports and charts something to draw. Packs, the plan and the catalog's money prices all
sell credits at about 10 a dollar (docs/decisions/0045).

It seeds once: when community `demo` exists, `load_demo` returns it untouched, so the owner's
changes survive a restart. Every step is idempotent as well (it creates what does not exist yet
or replays a write by its fixed idempotency key), so a step added later can run on its own.

Other areas add to the demo by appending a step to `DEMO_STEPS` (or `add_demo_step(step)`): a
step is `step(j, community) -> None`, runs after the ones before it and must be idempotent in
the same way (fixed keys, create-if-missing). Funding adds packs, plans and coupons this way.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files

from jeton.app import Community, Jeton
from jeton.core.catalog import DEMO_CATALOG

COMMUNITY_ID = "demo"
COMMUNITY_NAME = "Jeton demo community"
MEMBERS = {
    "alice": "Alice (a regular, VIP)",
    "bob": "Bob (uploads files)",
    "carol": "Carol (sells in the classifieds)",
    "dave": "Dave (buys, video consultations)",
    "mia": "Mia (moderator)",
}
DemoStep = Callable[[Jeton, Community], None]
# (id, name, credits, price in cents, bonus credits, classes): 10 credits a dollar, a bonus on
# the bigger packs (12 and 13 a dollar with it).
PACKS = (("pack-50", "50 credits", 50, 500, 0, None),
         ("pack-100", "100 credits + 20 bonus", 100, 1000, 20, None),
         ("pack-250", "250 credits + 75 bonus + VIP for 30 days", 250, 2500, 75, [("vip", 30)]))
PLAN_NAME = "Monthly 150"
PLAN_CREDITS = 150  # a month, for $12: 12.5 credits a dollar, expiring at the month's end
PLAN_PRICE_MINOR = 1200


def demo_catalog_text() -> str:
    return files("jeton.core").joinpath(DEMO_CATALOG).read_text(encoding="utf-8")


def _members_and_accounts(j: Jeton, c: Community) -> None:
    c.create_account("appstore")
    for member_id, name in MEMBERS.items():
        c.create_member(member_id, name=name)


def _catalog(j: Jeton, c: Community) -> None:
    c.load_catalog(demo_catalog_text(), "toml", actor="demo")


def _classes_and_keys(j: Jeton, c: Community) -> None:
    # For good: an expiry measured from "now" would move on every run.
    c.grant_class("alice", "vip")
    c.grant_key("alice", "collectors")
    c.grant_class("bob", "uploader")
    c.grant_class("carol", "seller")
    c.grant_class("dave", "buyer")
    c.grant_class("mia", "moderator")


def _welcome_credits(j: Jeton, c: Community) -> None:
    c.grant("alice", 300, idempotency_key="demo-welcome-alice", source="welcome",
            memo="Welcome to the demo")
    c.grant("bob", 50, idempotency_key="demo-welcome-bob", source="welcome",
            memo="Welcome to the demo")
    c.grant("carol", 100, idempotency_key="demo-welcome-carol", source="welcome",
            memo="Welcome to the demo")
    c.grant("dave", 500, idempotency_key="demo-purchase-dave", paid=True, cost_minor=5000,
            cost_currency="USD", source="purchase", memo="500 credits bought for $50")
    c.grant("mia", 20, idempotency_key="demo-welcome-mia", source="welcome",
            memo="Welcome to the demo")


def _activity(j: Jeton, c: Community) -> None:
    # Six chat messages in one session: five free, the sixth costs a credit.
    for n in range(1, 7):
        c.charge("alice", "chat.message", idempotency_key=f"demo-chat-{n}",
                 session_id="demo-session-1")
    c.charge("alice", "chat.private_room", idempotency_key="demo-room-alice")  # VIP: free
    c.charge("carol", "chat.private_room", idempotency_key="demo-room-carol")  # pays 50
    # Dave downloads 10 KiB that bob uploaded: 10 credits, 3 to bob, 1 to the app store.
    c.charge("dave", "files.download", 10 * 1024, context={"uploader": "bob"},
             idempotency_key="demo-download-1")
    c.charge("alice", "files.promoted_download", idempotency_key="demo-promoted-1")  # +2
    c.charge("carol", "classifieds.ad", idempotency_key="demo-ad-1")
    c.charge("alice", "mall.avatar_frame", idempotency_key="demo-frame-1")  # VIP price
    c.charge("alice", "mall.collectors_badge", idempotency_key="demo-badge-1")  # hidden: key
    c.charge("dave", "mall.sticker_pack", idempotency_key="demo-stickers-1")
    # A video consultation: ten minutes held, seven used.
    call = c.start_metered("dave", "video.minute", 10, idempotency_key="demo-call-1")
    c.finish_metered(call.id, 7, idempotency_key="demo-call-1-end")
    c.reward("bob", "files.uploaded", idempotency_key="demo-reward-upload-1")
    c.reward("alice", "poll.completed", idempotency_key="demo-reward-poll-1")


def _offers(j: Jeton, c: Community) -> None:
    """What members can buy, at one going rate of about 10 credits a dollar: bigger packs and
    the plan give a little more per dollar (the plan's credits expire each month, so it may);
    see docs/decisions/0045. Made once; a second load finds them and changes nothing."""
    from jeton.core.errors import NotFound

    known_packs = {p.id for p in c.list_packs(include_inactive=True)}
    for pack_id, name, credits, price, bonus, classes in PACKS:
        if pack_id not in known_packs:
            c.create_pack(name, pack_id=pack_id, credits=credits, price_minor=price,
                          bonus_credits=bonus, bonus_expiry_days=90 if bonus else None,
                          classes=classes)
    if "plan-monthly" not in {p.id for p in c.list_plans(include_inactive=True)}:
        c.create_plan(PLAN_NAME, plan_id="plan-monthly", cycle="monthly", credits=PLAN_CREDITS,
                      price_minor=PLAN_PRICE_MINOR)
    try:
        c.get_coupon("WELCOME10")
    except NotFound:
        c.create_coupon("WELCOME10", credits=10, per_member_limit=1)


def _history(j: Jeton, c: Community) -> None:
    from jeton.services.ops.demo_history import seed_history

    seed_history(j, c)


def _achievements(j: Jeton, c: Community) -> None:
    # The catalog's points, badges and levels, counted over the history and today's story at
    # once (the worker would do it within seconds), so the pages show them on first sight.
    while c.award_achievements():
        pass


# Offers come before the history, which buys them; the named members' story is today's.
DEMO_STEPS: list[DemoStep] = [_members_and_accounts, _catalog, _classes_and_keys, _offers,
                              _history, _welcome_credits, _activity, _achievements]


def add_demo_step(step: DemoStep) -> None:
    """Run `step` after the others when the demo is loaded (adding it twice adds it once)."""
    if step not in DEMO_STEPS:
        DEMO_STEPS.append(step)


def load_demo(j: Jeton) -> Community:
    """Build the demo community once; when it exists, leave it as its owner left it (a restart
    of `jeton serve --demo` once put the demo catalog back over the owner's edits)."""
    if any(info.id == COMMUNITY_ID for info in j.communities()):
        return j.community(COMMUNITY_ID)
    c = j.create_community(COMMUNITY_NAME, COMMUNITY_ID)
    for step in list(DEMO_STEPS):
        step(j, c)
    return c
