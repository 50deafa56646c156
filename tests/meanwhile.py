"""Commit a write between two statements of a read, for the reads that must see one snapshot
(decision 0111).

`write_after(store, "FROM webhook_deliveries", write)` runs `write` once, right after the
first statement whose SQL holds that text has run on `store`, and before the statement after
it. Read as several statements on PostgreSQL (`Store.read`: each its own snapshot), the rest of
the read sees the write; in one snapshot or one statement it does not. The write runs on a
connection of its own and commits before the read goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from jeton.store.engine import Store


@contextmanager
def write_after(store: Store, marker: str, write: Callable[[], object]) -> Iterator[list[object]]:
    """Yields a list that holds what `write` returned once it has run: a test checks that the
    write did land inside the read."""
    done: list[object] = []
    running = False

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal running
        if done or running or marker not in statement:
            return
        running = True  # the write's own statements pass by
        try:
            done.append(write())
        finally:
            running = False

    sa.event.listen(store.engine, "after_cursor_execute", after)
    try:
        yield done
    finally:
        sa.event.remove(store.engine, "after_cursor_execute", after)
