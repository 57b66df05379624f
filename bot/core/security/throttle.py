"""Attempt counters for sign-in: counted before the check, atomically, shared across processes via Redis.

Guarantees:
- `attempt()` increments every counter of the attempt *before* the caller verifies anything, in one
  atomic step (one event-loop step in memory; one Lua script in Redis), so N concurrent attempts are
  counted N times and at most `limit` of them per key are let through to the check;
- counters are keyed so a stranger cannot lock an account out: (source, account) at the low limit,
  the account across all sources at a higher limit, and the source across all accounts at a higher one;
- the answer does not depend on whether the account exists (unknown accounts are counted alike).
Windows are fixed: a key's count expires `window` seconds after its first attempt.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

# KEYS: counter keys; ARGV[1]: window in ms. Returns, per key, {count, ms to expiry}.
_INCR_SCRIPT = """
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
  local ttl = redis.call('PTTL', key)
  out[#out + 1] = n
  out[#out + 1] = ttl
end
return out
"""


@dataclass(frozen=True)
class Limits:
    pair: int  # one source against one account
    account: int  # one account from all sources
    source: int  # one source against all accounts
    window_seconds: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0


class Counters(Protocol):
    async def incr(self, keys: list[str], window: float) -> list[tuple[int, float]]: ...

    async def decr(self, key: str) -> None: ...

    async def delete(self, key: str) -> None: ...


class MemoryCounters:
    """One process: a dict, incremented without an await in between, so concurrent attempts cannot interleave."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counts: dict[str, tuple[int, float]] = {}

    async def incr(self, keys: list[str], window: float) -> list[tuple[int, float]]:
        now = self._clock()
        out = []
        for key in keys:
            count, expires = self._counts.get(key, (0, 0.0))
            if expires <= now:
                count, expires = 0, now + window
            count += 1
            self._counts[key] = (count, expires)
            out.append((count, expires - now))
        if len(self._counts) > 100_000:  # bound memory under a spray of keys
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        return out

    async def decr(self, key: str) -> None:
        if key in self._counts:
            count, expires = self._counts[key]
            self._counts[key] = (max(count - 1, 0), expires)

    async def delete(self, key: str) -> None:
        self._counts.pop(key, None)


class RedisCounters:
    """Several processes: the counters live in Redis, incremented by one Lua script (atomic)."""

    def __init__(self, url: str, namespace: str) -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.from_url(url)
        self._prefix = f"{namespace}:throttle:"
        self._script: Any = self._redis.register_script(_INCR_SCRIPT)

    async def incr(self, keys: list[str], window: float) -> list[tuple[int, float]]:
        raw = await self._script(keys=[self._prefix + k for k in keys], args=[int(window * 1000)])
        return [(int(raw[i]), max(int(raw[i + 1]), 0) / 1000) for i in range(0, len(raw), 2)]

    async def decr(self, key: str) -> None:
        await self._redis.decr(self._prefix + key)

    async def delete(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def close(self) -> None:
        await self._redis.aclose()


def _hash(value: str) -> str:
    """Keys carry no email address or IP in clear (they may sit in a shared Redis)."""
    return hashlib.sha256(value.encode()).hexdigest()[:24]


class LoginThrottle:
    def __init__(self, counters: Counters, limits: Limits, purpose: str = "login") -> None:
        self.counters = counters
        self.limits = limits
        self.purpose = purpose

    def _keys(self, source: str, account: str) -> tuple[str, str, str]:
        s, a = _hash(source), _hash(account)
        return f"{self.purpose}:pair:{s}:{a}", f"{self.purpose}:account:{a}", f"{self.purpose}:source:{s}"

    async def attempt(self, *, source: str, account: str) -> Decision:
        """Counts this attempt; allowed only while every counter is within its limit."""
        keys = self._keys(source, account)
        counts = await self.counters.incr(list(keys), self.limits.window_seconds)
        limits = (self.limits.pair, self.limits.account, self.limits.source)
        waits = [ttl for (count, ttl), limit in zip(counts, limits, strict=True) if count > limit]
        if waits:
            return Decision(False, max(waits))
        return Decision(True)

    async def succeeded(self, *, source: str, account: str) -> None:
        """A right password: this pair starts afresh, and this attempt counts neither against the account nor
        against the source (an office behind one address signs many agents in)."""
        pair, account_key, source_key = self._keys(source, account)
        await self.counters.delete(pair)
        await self.counters.decr(account_key)
        await self.counters.decr(source_key)
