"""Time-ordered identifiers (UUID version 7, RFC 9562).

Ids lead with a millisecond timestamp so that B-tree inserts stay at the right edge and so that
"newer than" is a comparison of ids. Within one process ids are strictly increasing even when
many are made in the same millisecond (a counter in the random bits, as RFC 9562 §6.2 allows).
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_COUNTER_BITS = 12  # the rand_a field


def uuid7(at_ms: int | None = None) -> uuid.UUID:
    """A new UUIDv7. `at_ms` pins the timestamp (for cut-off ids, never for records)."""
    return uuid.UUID(int=_build(at_ms, 0, 0) if at_ms is not None else _next())


def _next() -> int:
    global _last_ms, _counter
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms = now_ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF  # leave room to count up
        else:
            _counter += 1
            if _counter >= 1 << _COUNTER_BITS:  # counter spent: borrow the next millisecond
                _last_ms += 1
                _counter = 0
        ms, counter = _last_ms, _counter
    return _build(ms, counter, int.from_bytes(os.urandom(8), "big"))


def _build(ms: int, counter: int, rand_b: int) -> int:
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (counter & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand_b & ((1 << 62) - 1)
    return value


def _text(value: int) -> str:
    """The canonical form (what `str(uuid.UUID(int=value))` gives), without the object: every
    write makes a few ids."""
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_id() -> str:
    """A new id as the canonical string used in storage and in the API."""
    return _text(_next())


def id_floor(at_ms: int) -> str:
    """The smallest id that could be made at `at_ms`: every id made before it sorts lower."""
    return _text(_build(at_ms, 0, 0))


def id_time_ms(id_: str) -> int:
    return uuid.UUID(id_).int >> 80
