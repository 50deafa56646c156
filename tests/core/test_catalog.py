"""Loading a catalog: everything checked, every error returned at once with its line."""

from __future__ import annotations

from importlib.resources import files
from textwrap import dedent

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jeton.core import catalog as catalog_module
from jeton.core import limits
from jeton.core.access import AccessLevel, NeedKind
from jeton.core.allowances import AfterAllowance, Period
from jeton.core.catalog import DEMO_CATALOG, CatalogResult, load_catalog
from jeton.core.errors import InvalidRequest, NotFound
from jeton.core.prices import Money, PriceKind
from jeton.core.splits import PartKind
from jeton.core.statuses import Status

DEMO_TOML = files("jeton.core").joinpath(DEMO_CATALOG).read_text(encoding="utf-8")

DEMO_YAML = """\
services:
  chat.message:
    name: Chat message
    credits: 1
    allowance: {uses: 5, per: session, after: charge}
  chat.private_room:
    name: Private chat room
    credits: 50
    access:
      level: locked
      any_of: ["class:vip", payment]
  files.download:
    name: File download
    kind: per_unit
    credits: 1
    unit_size: 1024
    unit: byte
    splits:
      - {to: "party:uploader", share_bp: 3000}
      - {to: "account:appstore", fee: 1}
  files.promoted_download:
    name: Promoted file download
    credits: -2
  classifieds.ad:
    name: Classified ad
    credits: 10
    money: {currency: USD, amount_minor: 100}
  mall.sticker_pack: {name: Sticker pack, credits: 30}
  mall.avatar_frame:
    name: Avatar frame
    credits: 15
    class_credits: {vip: 10}
  mall.collectors_badge:
    name: Collector's badge
    credits: 100
    access: {level: hidden, any_of: ["key:collectors"]}
  video.minute:
    name: Video, per minute
    kind: per_unit
    credits: 20
    unit: minute
    class_credits: {buyer: 20, seller: 10}
    money: {currency: USD, amount_minor: 200}
rewards:
  poll.completed: {name: Poll completed, credits: 5, limit: 3, per: day}
  files.uploaded: {name: File uploaded, credits: 10, limit: 10, per: day}
points:
  downloads: {"on": charge, service: files.download, points: 2}
  polls: {"on": reward, service: poll.completed, points: 5}
  purchases: {"on": purchase, points: 25}
  week-streak: {"on": streak, days: 7, points: 50}
badges:
  bookworm:
    name: Bookworm
    emoji: "\U0001F4DA"
    description: Ten file downloads
    rule: {uses: 10, service: files.download}
  supporter: {name: Supporter, emoji: "\U0001F4B3", description: A first purchase,
              rule: {purchases: 1}}
  author:
    name: Author
    emoji: "\u270D\uFE0F"
    description: Twenty credits of royalties from your uploads
    rule: {royalties: 20}
levels:
  - {name: Newcomer, points: 0}
  - {name: Regular, points: 50}
  - {name: Pillar of the community, points: 250}
challenges:
  weekly-voter:
    name: Three polls this week
    emoji: "\U0001F5F3\uFE0F"
    goal: {rewards: 3, service: poll.completed}
    per: week
    reward: {credits: 10, points: 10}
"""


def errors_of(result: CatalogResult) -> list[tuple[int, str]]:
    assert result.catalog is None
    return [(e.line, e.where) for e in result.errors]


def test_demo_catalog_loads_with_every_service_of_the_demo_community() -> None:
    result = load_catalog(DEMO_TOML, "toml")
    assert result.ok, result.errors
    catalog = result.unwrap()
    assert set(catalog.services) == {
        "chat.message", "chat.private_room", "files.download", "files.promoted_download",
        "classifieds.ad", "mall.sticker_pack", "mall.avatar_frame", "mall.collectors_badge",
        "video.minute"}
    assert set(catalog.rewards) == {"poll.completed", "files.uploaded"}
    download = catalog.service("files.download")
    assert (download.price.kind, download.price.credits, download.price.unit_size) == (
        PriceKind.per_unit, 1, 1024)
    assert [(str(p.target), p.kind, p.value) for p in download.splits] == [
        ("party:uploader", PartKind.share, 3000), ("account:appstore", PartKind.fee, 1)]
    chat = catalog.service("chat.message")
    assert chat.allowance is not None
    assert (chat.allowance.uses, chat.allowance.period, chat.allowance.after) == (
        5, Period.session, AfterAllowance.charge)
    room = catalog.service("chat.private_room")
    assert room.access.level is AccessLevel.locked
    assert [r.kind for r in room.access.any_of] == [NeedKind.member_class, NeedKind.payment]
    assert catalog.service("video.minute").price.money == Money("USD", 200)
    assert catalog.service("files.promoted_download").price.pays_member
    assert catalog.reward("poll.completed").limit == 3


def test_yaml_and_toml_describe_the_same_catalog() -> None:
    from_yaml = load_catalog(DEMO_YAML, "yaml")
    assert from_yaml.ok, from_yaml.errors
    assert from_yaml.catalog == load_catalog(DEMO_TOML, "toml").catalog


def test_every_error_is_reported_at_once_with_its_line() -> None:
    text = dedent("""\
        [services."chat.message"]
        name = "Chat"
        credits = 1.5

        [services."files.download"]
        name = "Download"
        kind = "per_byte"
        credits = 1
        splits = [
          { to = "party:uploader", share_bp = 3000 },
          { to = "appstore", fee = 1 },
        ]

        [services."video.minute"]
        credits = 10
        colour = "blue"

        [rewards."poll.completed"]
        name = "Poll"
        credits = 5
        limit = 3
        per = "fortnight"
        """)
    result = load_catalog(text, "toml")
    assert errors_of(result) == [
        (3, 'services."chat.message".credits'),
        (7, 'services."files.download".kind'),
        (11, 'services."files.download".splits[1].to'),
        (14, 'services."video.minute"'),  # name is required
        (16, 'services."video.minute".colour'),
        (22, 'rewards."poll.completed".per'),
    ]
    assert "name is required" in result.errors[3].reason
    assert str(result.errors[0]).startswith('line 3: services."chat.message".credits: ')


def test_yaml_errors_carry_their_lines_too() -> None:
    text = dedent("""\
        services:
          chat.message:
            name: Chat
            credits: yes
          video.minute:
            name: Video
            credits: 10
            access:
              level: locked
              any_of:
                - class:vip
                - role:seller
        """)
    assert errors_of(load_catalog(text, "yaml")) == [
        (4, 'services."chat.message".credits'),  # `yes` is a word, not a number
        (12, 'services."video.minute".access.any_of[1]'),
    ]


def test_yaml_reads_on_yes_and_off_as_words_as_yaml_1_2_does() -> None:
    """A points rule's `on: charge` once read as `{True: "charge"}` (YAML 1.1's booleans), so a
    YAML catalog could not say when points are earned."""
    toml = dedent("""\
        [services."chat.message"]
        name = "Chat"
        credits = 1

        [points."chatty"]
        on = "charge"
        service = "chat.message"
        points = 1
        """)
    yaml_text = dedent("""\
        services:
          chat.message: {name: Chat, credits: 1}
        points:
          chatty:
            on: charge
            service: chat.message
            points: 1
        """)
    from_yaml = load_catalog(yaml_text, "yaml")
    assert from_yaml.ok, from_yaml.errors
    assert from_yaml.catalog == load_catalog(toml, "toml").catalog
    refused = load_catalog(yaml_text.replace("on: charge", "on: off"), "yaml")
    assert [(e.line, e.reason) for e in refused.errors] == [  # a word, and not an event
        (5, "on must be one of charge, reward, purchase, transfer_received, streak")]


def test_yaml_key_given_twice_is_an_error() -> None:
    text = "services:\n  a.b: {name: A, credits: 1}\n  a.b: {name: B, credits: 2}\n"
    result = load_catalog(text, "yaml")
    assert [(e.line, "twice" in e.reason) for e in result.errors] == [(3, True)]


def test_yaml_anchors_and_aliases_are_refused() -> None:
    text = dedent("""\
        services:
          a.b: &price {name: A, credits: 1}
          a.c: *price
        """)
    result = load_catalog(text, "yaml")
    assert [e.line for e in result.errors] == [3]
    assert "aliases" in result.errors[0].reason


@pytest.mark.parametrize(("text", "fmt", "line"), [
    ('[services."a.b"]\nname = "A"\ncredits = \n', "toml", 3),
    ("services:\n  a.b: {name: A\n", "yaml", 3),
    ("services:\n  - [\n", "yaml", 3),
])
def test_syntax_errors_are_reported_with_their_line(text: str, fmt: str, line: int) -> None:
    result = load_catalog(text, fmt)  # type: ignore[arg-type]
    assert [e.line for e in result.errors] == [line]
    assert result.errors[0].reason.startswith("not valid")


def test_array_of_tables_splits_are_placed_on_their_own_lines() -> None:
    text = dedent("""\
        [services."files.download"]
        name = "Download"
        credits = 10

        [[services."files.download".splits]]
        to = "party:uploader"
        share_bp = 3000

        [[services."files.download".splits]]
        to = "account:appstore"
        fee = 0
        """)
    assert errors_of(load_catalog(text, "toml")) == [
        (11, 'services."files.download".splits[1].fee')]


def test_a_split_that_does_not_fit_the_price_is_refused() -> None:
    text = dedent("""\
        [services."chat.message"]
        name = "Chat"
        credits = 5
        class_credits = { vip = 1 }
        splits = [{ to = "account:appstore", fee = 2 }]
        """)
    result = load_catalog(text, "toml")
    assert errors_of(result) == [(5, 'services."chat.message".splits')]
    assert "every positive price" in result.errors[0].reason


@pytest.mark.parametrize(("extra", "where"), [
    ('splits = [{ to = "account:appstore", fee = 1 }]', "splits"),
    ('allowance = { uses = 2, per = "day" }', "allowance"),
    ('money = { currency = "USD", amount_minor = 5 }', ""),
    ("class_credits = { vip = 3 }", ""),
])
def test_a_service_that_pays_the_member_is_only_a_payment(extra: str, where: str) -> None:
    text = f'[services."files.promoted_download"]\nname = "Promoted"\ncredits = -2\n{extra}\n'
    result = load_catalog(text, "toml")
    path = 'services."files.promoted_download"'
    assert [e.where for e in result.errors] == [f"{path}.{where}" if where else path]


@pytest.mark.parametrize(("text", "reason"), [
    ('[services."files.*"]\nname = "All files"\ncredits = 1\n', "pattern"),
    ('[services."Files Download"]\nname = "X"\ncredits = 1\n', "service code"),
    ('[services."a.b"]\nname = "X"\ncredits = true\n', "integer"),
    ('[services."a.b"]\nname = "X"\ncredits = 1\nunit_size = 10\n', "per_unit"),
    ('[services."a.b"]\nname = ""\ncredits = 1\n', "name"),
    ('[services."a.b"]\nname = "X"\ncredits = 1\naccess = { level = "open", '
     'any_of = ["class:vip"] }\n', "open"),
    ('[services."a.b"]\nname = "X"\ncredits = 1\nsplits = [{ to = "party:x", fee = 1, '
     'share_bp = 5 }]\n', "exactly one"),
    ('[services."a.b"]\nname = "X"\ncredits = 1\n[rewards."a.b"]\nname = "X"\ncredits = 1\n'
     'limit = 1\nper = "day"\n', "not both"),
    ('services = 3\n', "must be a table"),
    ("title = 'x'\n", "unknown key"),
    ("", "no services"),
])
def test_mistakes_are_explained(text: str, reason: str) -> None:
    result = load_catalog(text, "toml")
    assert result.catalog is None
    assert any(reason in e.reason for e in result.errors), result.errors


def test_an_unusable_catalog_raises_with_all_errors_when_unwrapped() -> None:
    result = load_catalog('[services."a.b"]\ncredits = "one"\n', "toml")
    with pytest.raises(InvalidRequest) as err:
        result.unwrap()
    assert err.value.status is Status.catalog_invalid
    assert len(err.value.extra["errors"]) == 2  # name missing, credits not a number


def test_a_catalog_over_the_size_limit_is_refused_unread() -> None:
    result = load_catalog("#" * (limits.catalog_bytes_max + 1), "toml")
    assert "at most" in result.errors[0].reason


def test_an_unknown_format_is_a_programming_error() -> None:
    with pytest.raises(InvalidRequest):
        load_catalog("", "json")  # type: ignore[arg-type]


def test_looking_up_a_service_that_is_not_there_says_so() -> None:
    catalog = load_catalog(DEMO_TOML, "toml").unwrap()
    with pytest.raises(NotFound) as err:
        catalog.service("files.upload")
    assert err.value.status is Status.service_not_found


def test_the_example_in_the_catalog_docs_is_a_valid_catalog() -> None:
    doc = catalog_module.__doc__ or ""
    example = doc.split("(YAML has the same shape):")[1].split("Beyond each value")[0]
    assert load_catalog(dedent(example), "toml").ok


@settings(max_examples=300)
@given(st.lists(st.sampled_from([*"[]{}\"'=:,-#&*!|>\n .abc1_", "services", "credits"]),
                max_size=120).map("".join),
       st.sampled_from(["toml", "yaml"]))
def test_any_text_gives_errors_as_data_never_an_exception(text: str, fmt: str) -> None:
    result = load_catalog(text, fmt)  # type: ignore[arg-type]
    assert result.ok == (result.catalog is not None)
    assert all(e.line >= 0 and e.reason for e in result.errors)


@given(st.data())
def test_a_damaged_demo_catalog_gives_errors_as_data_never_an_exception(
        data: st.DataObject) -> None:
    text = DEMO_TOML if data.draw(st.booleans()) else DEMO_YAML
    fmt = "toml" if text is DEMO_TOML else "yaml"
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text) - 1))
        text = text[:at] + data.draw(st.sampled_from(['"', "[", "}", "-1", "\n", "x", ""])) \
            + text[at + data.draw(st.integers(0, 5)):]
    result = load_catalog(text, fmt)  # type: ignore[arg-type]
    assert result.ok == (result.catalog is not None)


def test_control_characters_are_an_error_in_the_file_not_a_crash() -> None:
    result = load_catalog("\b", "yaml")
    assert not result.ok
    assert "not valid YAML" in result.errors[0].reason
