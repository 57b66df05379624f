"""Sweeps that run in one process at a time: a PostgreSQL advisory lock, or a Redis lock, or none on SQLite.

Guarantees: while one process holds a sweep's lock, another process asking for it gets `False` at once
(never waits) and skips that run; the lock is released when the sweep ends, and also when its holder
dies (PostgreSQL: the session ends; Redis: the key expires after `ttl_seconds`). On SQLite, which one
process serves, every run proceeds. Sweeps stay idempotent, so a lock lost to a timeout at worst runs
a sweep twice, never pushes twice.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"


class SweepLock(Protocol):
    def hold(self, name: str) -> Any: ...  # async context manager yielding bool


class NoLock:
    """SQLite: one process serves the database, so every run is the only one."""

    kind = "none"

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        yield True


def _key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"incs-sweep:{name}".encode()).digest()[:8], "big", signed=True)


class PostgresAdvisoryLock:
    """pg_try_advisory_lock on a connection of its own, held for the sweep's duration."""

    kind = "postgresql"

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        key = _key(name)
        async with self.engine.connect() as conn:
            got = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
            await conn.commit()  # no transaction left open while the sweep runs
            try:
                yield got
            finally:
                if got:
                    await conn.scalar(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    await conn.commit()


class RedisLock:
    """SET NX PX with a random token; released only by its holder (compare-and-delete)."""

    kind = "redis"

    def __init__(self, url: str, namespace: str, ttl_seconds: float = 600.0) -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.from_url(url)
        self._prefix = f"{namespace}:sweep:"
        self._ttl_ms = int(ttl_seconds * 1000)
        self._release: Any = self._redis.register_script(_RELEASE)

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        token = secrets.token_hex(16)
        key = self._prefix + name
        got = bool(await self._redis.set(key, token, nx=True, px=self._ttl_ms))
        try:
            yield got
        finally:
            if got:
                await self._release(keys=[key], args=[token])

    async def close(self) -> None:
        await self._redis.aclose()


def make_sweep_lock(*, engine: AsyncEngine, database_url: str, redis_url: str, namespace: str) -> NoLock | PostgresAdvisoryLock | RedisLock:
    """The database's own lock where it has one (PostgreSQL); else Redis when several processes share one; else none."""
    if database_url.startswith("postgresql"):
        return PostgresAdvisoryLock(engine)
    if redis_url:
        return RedisLock(redis_url, namespace)
    return NoLock()
