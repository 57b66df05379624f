"""Canned replies of an organization: saved answers agents insert with `/shortcut` in the reply box.

Variables `{customer_name}`, `{agent_name}` and `{brand}` are filled in for the conversation at hand by plain
replacement (never str.format, so a stray brace in a reply is just text).
"""

from __future__ import annotations

import re

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.canned_replies.models import CannedReply
from bot.core.common.errors import Conflict, InvalidInput, NotFound

SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_TEXT = 4000
VARIABLES = ("customer_name", "agent_name", "brand")


async def list_canned(*, session: AsyncSession, org_id: int) -> list[CannedReply]:
    rows = await session.scalars(select(CannedReply).where(CannedReply.org_id == org_id).order_by(CannedReply.shortcut))
    return list(rows)


async def add_canned(*, session: AsyncSession, org_id: int, shortcut: str, text: str) -> CannedReply:
    shortcut = shortcut.strip().lstrip("/").lower()
    text = text.strip()
    if not SHORTCUT.match(shortcut):
        raise InvalidInput("shortcut: letters, digits, - and _, up to 40 characters")
    if not text or len(text) > MAX_TEXT:
        raise InvalidInput("text: 1 to %(limit)s characters", limit=MAX_TEXT)
    taken = await session.scalar(select(CannedReply.id).where(CannedReply.org_id == org_id, CannedReply.shortcut == shortcut))
    if taken is not None:
        raise Conflict("/%(shortcut)s exists already", shortcut=shortcut)
    reply = CannedReply(org_id=org_id, shortcut=shortcut, text=text)
    session.add(reply)
    await session.flush()
    return reply


async def delete_canned(*, session: AsyncSession, org_id: int, canned_id: int) -> None:
    result = await session.execute(delete(CannedReply).where(CannedReply.org_id == org_id, CannedReply.id == canned_id))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound("no such canned reply")


def fill(text: str, *, customer_name: str, agent_name: str, brand: str) -> str:
    values = {"customer_name": customer_name, "agent_name": agent_name, "brand": brand}
    for key in VARIABLES:
        text = text.replace("{" + key + "}", values[key])
    return text
