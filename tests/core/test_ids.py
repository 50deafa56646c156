"""Ids are UUIDv7 in canonical text, increasing within a process."""

from __future__ import annotations

import uuid

from jeton.core.ids import id_floor, id_time_ms, new_id, uuid7


def test_new_ids_are_canonical_uuid7_text_and_increase() -> None:
    ids = [new_id() for _ in range(5000)]  # many in one millisecond: the counter orders them
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    for text in ids[:50]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122


def test_a_floor_sorts_below_every_id_of_its_millisecond_and_after() -> None:
    made = new_id()
    ms = id_time_ms(made)
    assert id_floor(ms) <= made < id_floor(ms + 1)
    assert str(uuid7(at_ms=ms)) == id_floor(ms)
    assert id_time_ms(id_floor(ms)) == ms
