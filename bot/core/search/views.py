"""An agent's saved searches: a name and the query string of the search page. Each agent sees and changes only
their own views (there are no shared views): another agent's or organization's view is simply not found."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.errors import Conflict, InvalidInput, NotFound
from bot.core.orgs.models import Agent
from bot.core.search.models import SavedView


def _name(name: str) -> str:
    name = " ".join(name.split())[:80]
    if not name:
        raise InvalidInput("a saved view needs a name")
    return name


async def save_view(*, session: AsyncSession, agent: Agent, name: str, query: dict[str, Any]) -> SavedView:
    """Saves (or replaces) the view of that name."""
    name = _name(name)
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


async def get_view(*, session: AsyncSession, agent: Agent, view_id: int) -> SavedView:
    view = await session.scalar(select(SavedView).where(
        SavedView.org_id == agent.org_id, SavedView.agent_id == agent.id, SavedView.id == view_id))
    if view is None:
        raise NotFound("no such saved view")
    return view


async def update_view(*, session: AsyncSession, agent: Agent, view_id: int, name: str, query: dict[str, Any]) -> SavedView:
    """Renames the view and gives it these filters."""
    view = await get_view(session=session, agent=agent, view_id=view_id)
    name = _name(name)
    clash = await session.scalar(select(SavedView.id).where(
        SavedView.agent_id == agent.id, SavedView.name == name, SavedView.id != view.id))
    if clash is not None:
        raise Conflict("you already have a saved view of that name")
    view.name, view.query = name, query
    await session.flush()
    return view


async def delete_view(*, session: AsyncSession, agent: Agent, view_id: int) -> None:
    await session.delete(await get_view(session=session, agent=agent, view_id=view_id))
    await session.flush()
