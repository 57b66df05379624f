"""First start on an empty database: a demo organization and its main admin, password shown once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.notices.models import PolicyVersion
from bot.core.orgs.agents import create_agent, generate_password
from bot.core.orgs.models import Organization
from bot.core.orgs.organizations import create_organization
from bot.core.storage.db import SessionFactory, transaction


@dataclass(frozen=True)
class FirstLogin:
    email: str
    password: str


async def _one_process_at_a_time(session: AsyncSession) -> None:
    """Several processes started at once on one new PostgreSQL database each check, then insert: without this turn
    the second died on the unique key of what the first had inserted. Held until the transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(7330, 2)"))


async def ensure_policy_version(factory: SessionFactory, version: str) -> None:
    async with transaction(factory) as session:
        await _one_process_at_a_time(session)
        if not await session.scalar(select(PolicyVersion.id).where(PolicyVersion.version == version)):
            session.add(PolicyVersion(version=version, summary="INCS Privacy Policy", major=True))


async def bootstrap_demo(factory: SessionFactory, slug: str) -> FirstLogin | None:
    """Creates the demo organization and admin when no organization exists yet; else None."""
    async with transaction(factory) as session:
        await _one_process_at_a_time(session)
        if await session.scalar(select(func.count()).select_from(Organization)):
            return None
        org = await create_organization(
            session=session,
            name="Demo Company",
            slug=slug,
            brand="Demo Company",
            profile="We make demo products and answer within one business day.",
            website="https://example.com",
        )
        password = generate_password()
        email = "admin@example.com"
        await create_agent(session=session, org_id=org.id, email=email, password=password, name="Admin", role="main_admin")
    return FirstLogin(email=email, password=password)
