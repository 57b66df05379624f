"""Registering an organization, from the workbench or from the bot.

Guarantees: a name is required and unique case-insensitively (policy 二 1.1); the workbench sign-up
creates the organization and its main administrator in one transaction; the bot sign-up creates the
organization and mails a single-use link that makes its holder the main administrator, so no password
ever travels through a chat. Both are audited in the new organization's chain.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.common.errors import InvalidInput
from bot.core.orgs.agents import create_agent
from bot.core.orgs.audit import record
from bot.core.orgs.models import Agent, Invitation, Organization
from bot.core.orgs.organizations import create_organization
from bot.core.orgs.permissions import Role
from bot.core.orgs.tokens import new_token


async def sign_up(*, session: AsyncSession, org_name: str, email: str, name: str, password: str) -> tuple[Organization, Agent]:
    org = await create_organization(session=session, name=org_name)
    admin = await create_agent(session=session, org_id=org.id, email=email, password=password, name=name,
                               role=Role.MAIN_ADMIN.value)
    await record(session=session, org_id=org.id, actor_type="agent", actor_id=admin.id, action="sign_up",
                 subject_type="organization", subject_id=org.id, detail={"via": "workbench"})
    return org, admin


async def sign_up_by_chat(
    *, session: AsyncSession, org_name: str, email: str, hours: int, customer_id: int | None
) -> tuple[Organization, str]:
    """The organization and the token of its main administrator's invitation link."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 320 or " " in email:
        raise InvalidInput("email: not an email address")
    org = await create_organization(session=session, name=org_name)
    token, digest = new_token()
    session.add(Invitation(org_id=org.id, email=email, role=Role.MAIN_ADMIN.value, token_hash=digest,
                           expires_at=now() + timedelta(hours=hours)))
    await record(session=session, org_id=org.id, actor_type="customer", actor_id=customer_id, action="sign_up",
                 subject_type="organization", subject_id=org.id, detail={"via": "chat"})
    await session.flush()
    return org, token
