"""An agent's saved searches: a name and the query string of the search page."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.errors import InvalidInput
from bot.core.orgs.models import Agent
from bot.core.search.models import SavedView


async def save_view(*, session: AsyncSession, agent: Agent, name: str, query: dict[str, Any]) -> SavedView:
    """Saves (or replaces) the view of that name."""
    name = " ".join(name.split())[:80]
    if not name:
        raise InvalidInput("a saved view needs a name")
    view = await session.scalar(select(SavedView).where(SavedView.agent_id == agent.id, SavedView.name == name))
    if view is None:
        view = SavedView(org_id=agent.org_id, agent_id=agent.id, name=name, query=query)
        session.add(view)
    else:
        view.query = query
    await session.flush()
    return view


async def list_views(*, session: AsyncSession, agent: Agent) -> list[SavedView]:
    rows = await session.scalars(
        select(SavedView).where(SavedView.org_id == agent.org_id, SavedView.agent_id == agent.id).order_by(SavedView.name)
    )
    return list(rows)
