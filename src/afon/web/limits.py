"""Rate limits: a token bucket per client, so that one client's flood cannot starve the others.

A client may send `RATE_PER_S` messages (WebSocket) or requests (HTTP, per address) a second on
average and bursts of up to `BURST`; beyond that each message is answered "rate limited" without
reaching the body loop. Hand-written: a bucket is four lines, and the web stack has none built
in (Starlette leaves rate limiting to the application).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

RATE_PER_S = 60.0
"""Sustained messages per second per client: auto-repeating arrow keys send ~30, pings 1."""
BURST = 120.0


class TokenBucket:
    def __init__(self, rate_per_s: float = RATE_PER_S, burst: float = BURST) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._tokens = burst
        self._t = time.monotonic()
        self.refused = 0

    def allow(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self._tokens = min(self.burst, self._tokens + (now - self._t) * self.rate_per_s)
        self._t = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self.refused += 1
        return False


class RateLimiter:
    """A bucket per key (client address), the least recently used forgotten beyond `max_keys`."""

    def __init__(
        self, rate_per_s: float = RATE_PER_S, burst: float = BURST, max_keys: int = 4096
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def allow(self, key: str) -> bool:
        with self._lock:
            bucket = self._buckets.pop(key, None) or TokenBucket(self.rate_per_s, self.burst)
            self._buckets[key] = bucket
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return bucket.allow()
