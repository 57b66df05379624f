"""The thread a Slack customer is writing in, inside their DM: replies follow them there."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.slack.models import SlackDmThread
from bot.core.common.clock import now


async def remember_thread(*, session: AsyncSession, org_id: int, user_id: str, thread_ts: str | None) -> None:
    """A message inside a thread makes it the reply thread; a top-level message clears it."""
    row = await session.scalar(select(SlackDmThread).where(SlackDmThread.org_id == org_id, SlackDmThread.user_id == user_id))
    if thread_ts is None:
        if row is not None:
            await session.execute(delete(SlackDmThread).where(SlackDmThread.id == row.id))
        return
    if row is None:
        session.add(SlackDmThread(org_id=org_id, user_id=user_id, thread_ts=thread_ts, updated_at=now()))
    else:
        row.thread_ts, row.updated_at = thread_ts, now()
    await session.flush()


async def reply_thread(*, session: AsyncSession, user_id: str) -> str | None:
    return await session.scalar(
        select(SlackDmThread.thread_ts).where(SlackDmThread.user_id == user_id).order_by(SlackDmThread.updated_at.desc()).limit(1)
    )
