"""Low-balance alerts at several levels: info, warning and critical thresholds each send
`balance.low` with their level once per crossing, and again only after the balance came back
above them; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

import jeton
from jeton.services.events.endpoints import Webhooks


def levels_sent(wh: Webhooks) -> list[tuple[object, object]]:
    page = wh.events.list_events("chat", type="balance.low")
    return [(e.data["level"], e.data["available"]) for e in reversed(page.data)]


def test_each_level_fires_once_per_crossing(chat: jeton.Community, wh: Webhooks) -> None:
    chat.grant("alice", 600, idempotency_key="g1")
    set_ = chat.set_low_balance_levels("alice", {"info": 500, "warning": 100, "critical": 20})
    assert [(lv.level, lv.threshold, lv.armed) for lv in set_.levels] == [
        ("info", 500, True), ("warning", 100, True), ("critical", 20, True)]

    chat.spend("alice", 150, idempotency_key="s1")  # 450: under info
    chat.spend("alice", 100, idempotency_key="s2")  # 350: still under info, nothing new
    assert levels_sent(wh) == [("info", 450)]
    chat.spend("alice", 340, idempotency_key="s3")  # 10: through warning and critical at once
    assert levels_sent(wh) == [("info", 450), ("warning", 10), ("critical", 10)]
    assert [lv.armed for lv in chat.low_balance_levels("alice").levels] == [False] * 3

    chat.grant("alice", 140, idempotency_key="g2")  # 150: back above warning and critical
    assert [lv.armed for lv in chat.low_balance_levels("alice").levels] == [False, True, True]
    chat.spend("alice", 60, idempotency_key="s4")  # 90: warning again, info stays quiet
    assert levels_sent(wh)[3:] == [("warning", 90)]


def test_levels_are_checked_and_a_bad_set_changes_nothing(chat: jeton.Community) -> None:
    chat.set_low_balance_levels("bob", {"warning": 50})
    with pytest.raises(jeton.InvalidRequest):
        chat.set_low_balance_levels("bob", {"info": 10, "warning": 50})  # not falling
    with pytest.raises(jeton.InvalidRequest):
        chat.set_low_balance_levels("bob", {"urgent": 5})
    with pytest.raises(jeton.InvalidRequest):
        chat.set_low_balance_levels("bob", {"critical": 0})
    with pytest.raises(jeton.NotFound):
        chat.set_low_balance_levels("nobody", {"critical": 5})
    assert [(lv.level, lv.threshold) for lv in chat.low_balance_levels("bob").levels] == [
        ("warning", 50)]
    assert chat.set_low_balance_levels("bob", {}).levels == []


def test_the_single_threshold_still_works_beside_levels(chat: jeton.Community,
                                                        wh: Webhooks) -> None:
    chat.grant("alice", 100, idempotency_key="g1")
    chat.set_low_balance_threshold("alice", 60)
    chat.set_low_balance_levels("alice", {"critical": 10})
    chat.spend("alice", 95, idempotency_key="s1")
    assert levels_sent(wh) == [(None, 5), ("critical", 5)]
