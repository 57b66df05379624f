"""argon2 off the event loop: password checks run in a small thread pool with a cap on the queue.

Guarantees: the event loop never runs argon2 (argon2-cffi calls the C library through CFFI, which
releases the GIL for the call, so channels, websockets and /healthz keep being served while passwords
are checked); at most `workers` checks run at once and at most `max_pending` wait or run, beyond which
`check` raises ServiceUnavailable at once instead of queueing without bound.

The pool's threads run at a lower CPU priority (nice +10, Linux; elsewhere unchanged). argon2id's
default parameters use 4 lanes, each in a thread of its own that inherits that priority, so two
checks are 8 busy threads: at equal priority they take the cores from the event loop's thread for
tens of milliseconds at a time (measured: /healthz p99 54 ms during 60 parallel sign-ins on 2 busy
cores). Niced, the loop's thread runs as soon as it wakes; sign-ins take a little longer only while
the machine is busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from bot.core.common.errors import ServiceUnavailable

T = TypeVar("T")
WORKER_NICE = 10


def lower_this_threads_priority(nice: int = WORKER_NICE) -> None:
    """Raise the calling thread's nice value (Linux sets it per thread; threads it starts inherit it)."""
    with contextlib.suppress(AttributeError, OSError):  # not on this platform, or not allowed: run as is
        current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), max(current, nice))


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
            self._executor = ThreadPoolExecutor(
                max_workers=self.workers, thread_name_prefix="argon2", initializer=lower_this_threads_priority
            )
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
