"""Token buckets in this process's memory: requests per API key (the HTTP API), sign-in
attempts per address (the dashboard).

Each server process keeps its own buckets: with N processes behind a balancer a key may make up
to N times the rate. That is the price of not touching the database on every request; an
operator who needs one global limit puts it in the proxy in front (docs/api/README.md).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

# Buckets kept at once; the least recently used go first (a full bucket is no loss to forget).
_BUCKETS_MAX = 100_000


class RateLimiter:
    def __init__(self, rate_per_s: float, burst: int,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def take(self, name: str) -> float:
        """Take one token from `name`'s bucket: 0 if there was one, else the seconds to wait."""
        now = self._monotonic()
        with self._lock:
            tokens, at = self._buckets.pop(name, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate_per_s)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate_per_s
            self._buckets[name] = (tokens, now)
            if len(self._buckets) > _BUCKETS_MAX:
                self._buckets.popitem(last=False)
        return wait


def retry_after_s(wait: float) -> int:
    """The `Retry-After` header's whole seconds: never 0, so a client does wait."""
    return max(1, math.ceil(wait))
