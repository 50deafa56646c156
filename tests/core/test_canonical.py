"""Canonical JSON (core/canonical.py): what catalog entries, signed receipts and the HTTP
layer's request digests are compared and hashed by. Stored hashes and signatures depend on
these exact bytes."""

from __future__ import annotations

from jeton.core.canonical import canonical_json


def test_equal_values_are_equal_text_whatever_their_key_order() -> None:
    assert canonical_json({"b": 1, "a": [1, {"d": None, "c": True}]}) == \
        canonical_json({"a": [1, {"c": True, "d": None}], "b": 1})


def test_the_text_is_compact_sorted_and_keeps_non_ascii_as_it_is() -> None:
    assert canonical_json({"é": "ünïcode", "a": 1.5, "z": []}) == '{"a":1.5,"z":[],"é":"ünïcode"}'
