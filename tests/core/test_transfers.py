"""A transfer's hash: the digest `jeton verify` recomputes from the stored rows."""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from jeton.core.transfers import HEADER_FIELDS, transfer_hash

values = st.one_of(st.none(), st.text(max_size=12), st.integers(-(2**63), 2**63))
legs = st.lists(st.tuples(st.just(0), st.text(max_size=8), st.integers(-999, 999)), max_size=4)


def reference_hash(header: dict[str, Any], postings: list[tuple[int, str, int]],
                   lot_moves: list[tuple[int, str, int]]) -> str:
    """The digest as first specified: `len:value;` fields, header by name, then the legs."""
    def field(value: object) -> str:
        text = "~" if value is None else str(value)
        return f"{len(text)}:{text};"

    parts = [f"{k}={field(header[k])}" for k in sorted(header)]
    parts.extend(f"p{field(a)}{field(amt)}" for _, a, amt in sorted(postings))
    parts.extend(f"l{field(lot)}{field(amt)}" for _, lot, amt in sorted(lot_moves))
    return hashlib.sha256("".join(parts).encode()).hexdigest()


@given(st.fixed_dictionaries({k: values for k in HEADER_FIELDS}), legs, legs)
def test_hash_of_a_transfer_row_is_the_specified_digest(
        header: dict[str, Any], postings: list[tuple[int, str, int]],
        moves: list[tuple[int, str, int]]) -> None:
    assert transfer_hash(header, postings, moves) == reference_hash(header, postings, moves)


@given(st.dictionaries(st.text(min_size=1, max_size=6), values, max_size=5), legs, legs)
def test_hash_of_any_header_is_the_specified_digest(
        header: dict[str, Any], postings: list[tuple[int, str, int]],
        moves: list[tuple[int, str, int]]) -> None:
    assert transfer_hash(header, postings, moves) == reference_hash(header, postings, moves)
