"""argon2 off the event loop: password checks run in a small thread pool with a cap on the queue.

Guarantees: the event loop never runs argon2 (argon2-cffi releases the GIL, so channels, websockets
and /healthz keep being served while passwords are checked); at most `workers` checks run at once and
at most `max_pending` wait or run, beyond which `check` raises ServiceUnavailable at once instead of
queueing without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from bot.core.common.errors import ServiceUnavailable

T = TypeVar("T")


class PasswordPool:
    def __init__(self, workers: int = 2, max_pending: int = 32) -> None:
        self.workers = workers
        self.max_pending = max_pending
        self.pending = 0
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if self.pending >= self.max_pending:
            raise ServiceUnavailable("sign-in is busy; try again in a moment")
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="argon2")
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self.pending -= 1

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


DEFAULT_POOL = PasswordPool()
