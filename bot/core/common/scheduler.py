"""A shared APScheduler (AsyncIOScheduler) for periodic sweeps: `ctx.services["scheduler"]`.

Jobs are idempotent sweeps that read the database (deadlines are data), so a missed or doubled
run loses or repeats nothing. Add jobs before or after start; they run on the app's event loop.
Each run first takes the job's sweep lock (bot/core/common/sweep_lock.py): with several processes,
one runs a given sweep at a time and the others skip that run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.common.sweep_lock import NoLock, SweepLock

log = logging.getLogger(__name__)
Job = Callable[[], Awaitable[object]]


class Scheduler:
    def __init__(self, lock: SweepLock | None = None) -> None:
        self.lock: SweepLock = lock or NoLock()
        self.skipped: dict[str, int] = {}  # runs left to another process, per job
        self._scheduler: AsyncIOScheduler | None = None
        self._pending: list[tuple[str, Job, dict[str, object]]] = []

    def every(self, name: str, seconds: float, job: Job) -> None:
        """Run `job` every `seconds` (one instance at a time; missed runs coalesce into one)."""
        self._add(name, job, {"trigger": "interval", "seconds": seconds})

    def daily(self, name: str, hhmm: str, job: Job) -> None:
        """Run `job` every day at HH:MM UTC."""
        hour, minute = (int(part) for part in hhmm.split(":"))
        self._add(name, job, {"trigger": "cron", "hour": hour, "minute": minute, "timezone": "UTC"})

    def _add(self, name: str, job: Job, trigger: dict[str, object]) -> None:
        if self._scheduler is None:
            self._pending.append((name, job, trigger))
            return
        self._scheduler.add_job(
            self.guarded(name, job),
            id=name,
            name=name,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=300,
            **trigger,
        )

    @property
    def job_names(self) -> list[str]:
        if self._scheduler is None:
            return [name for name, _, _ in self._pending]
        return [job.id for job in self._scheduler.get_jobs()]

    async def start(self) -> None:
        # Created here, not in __init__: AsyncIOScheduler binds to the running loop.
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler.start()
        pending, self._pending = self._pending, []
        for name, job, trigger in pending:
            self._add(name, job, trigger)

    async def stop(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None


    def guarded(self, name: str, job: Job) -> Callable[[], Awaitable[None]]:
        """The job as the scheduler runs it: under its sweep lock, and failures logged, never raised."""

        async def run() -> None:
            try:
                async with self.lock.hold(name) as mine:
                    if not mine:
                        self.skipped[name] = self.skipped.get(name, 0) + 1
                        log.debug("scheduled job %s runs in another process; skipped here", name)
                        return
                    await job()
            except Exception:  # noqa: BLE001 - a failed sweep runs again next time; the scheduler must live on
                log.exception("scheduled job %s failed", name)

        run.__name__ = f"job_{name}"
        return run
