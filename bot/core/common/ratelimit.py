"""In-process sliding-window limiter (login attempts, per-user throttles)."""

from __future__ import annotations

import time
from collections import deque


class SlidingWindow:
    def __init__(self, limit: int, window_seconds: float, clock: object = time.monotonic) -> None:
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    def _now(self) -> float:
        return self._clock()  # type: ignore[operator,no-any-return]

    def _trim(self, key: str) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        edge = self._now() - self.window
        while hits and hits[0] <= edge:
            hits.popleft()
        return hits

    def blocked(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it may now."""
        hits = self._trim(key)
        if len(hits) < self.limit:
            return 0.0
        return max(hits[0] + self.window - self._now(), 0.0)

    def hit(self, key: str) -> None:
        self._trim(key).append(self._now())
        if len(self._hits) > 100_000:  # bound memory under a spray of keys
            for stale in [k for k, v in self._hits.items() if not v][:50_000]:
                del self._hits[stale]

    def reset(self, key: str) -> None:
        self._hits.pop(key, None)
