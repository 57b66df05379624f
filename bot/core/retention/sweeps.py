"""The nightly retention job: due once a day at `retention.run_at` (UTC); a run missed while no process was up
starts at the next check (`retention.check_seconds`). Whether today's run happened is read from the audit log
(the `retention.run` event), so a restart neither skips nor repeats it; the scheduler's sweep lock keeps it to
one process on PostgreSQL (or with Redis)."""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from pathlib import Path

from bot.config import RetentionConfig
from bot.context import AppContext
from bot.core.common.clock import now
from bot.core.retention.purge import Report, last_run, run
from bot.core.storage.db import SessionFactory

log = logging.getLogger(__name__)
JOB = "retention.nightly"


def due_since(moment: datetime, run_at: str) -> datetime:
    """The latest scheduled time at or before `moment`."""
    hour, minute = (int(part) for part in run_at.split(":"))
    today = datetime.combine(moment.date(), time(hour, minute))
    return today if today <= moment else today - timedelta(days=1)


async def run_if_due(*, factory: SessionFactory, config: RetentionConfig, data_dir: Path) -> Report | None:
    moment = now()
    async with factory() as session:
        previous = await last_run(session=session)
    if previous is not None and previous >= due_since(moment, config.run_at):
        return None
    report = await run(factory=factory, config=config, data_dir=data_dir, moment=moment)
    log.info("retention run: %s in %.1f s", ", ".join(report.lines()), report.seconds)
    return report


def install(ctx: AppContext) -> None:
    config = ctx.settings.retention
    if not config.enabled:
        return

    async def nightly() -> None:
        await run_if_due(factory=ctx.factory, config=config, data_dir=ctx.settings.data_dir)

    ctx.services["scheduler"].every(JOB, config.check_seconds, nightly)
