"""Start many writers at the same instant, for the concurrency tests.

`run_together(threads, work)` calls `work(i)` for i in 0..threads-1, each in its own thread,
released together by a barrier so the writes really race, and returns what they raised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

JOIN_TIMEOUT_S = 120


def run_together(threads: int, work: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def run(i: int) -> None:
        start.wait()
        try:
            work(i)
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=JOIN_TIMEOUT_S)
    return errors
