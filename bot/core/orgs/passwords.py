"""Password reset by email: an expiring, single-use link per agent account with that address.

Guarantees: the answer to a reset request never says whether the address exists; only the token's hash
is stored; a used or expired link does nothing; a reset ends every session of the account.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.common.errors import NotFound
from bot.core.orgs.agents import end_all_sessions, hash_password, validate_password
from bot.core.orgs.audit import record
from bot.core.orgs.models import Agent, PasswordReset
from bot.core.orgs.tokens import new_token, token_hash
from bot.core.security.password_pool import DEFAULT_POOL


async def request_reset(*, session: AsyncSession, email: str, minutes: int) -> list[tuple[Agent, str]]:
    """(agent, token) for each active account with this address; empty for an unknown one."""
    email = email.strip().lower()[:320]
    agents = (await session.scalars(select(Agent).where(Agent.email == email, Agent.active.is_(True)))).all()
    issued: list[tuple[Agent, str]] = []
    for agent in agents:
        token, digest = new_token()
        session.add(PasswordReset(org_id=agent.org_id, agent_id=agent.id, token_hash=digest,
                                  expires_at=now() + timedelta(minutes=minutes)))
        await record(session=session, org_id=agent.org_id, actor_type="anonymous", actor_id=None,
                     action="password_reset_requested", subject_type="agent", subject_id=agent.id)
        issued.append((agent, token))
    await session.flush()
    return issued


async def open_reset(*, session: AsyncSession, token: str) -> PasswordReset:
    reset = await session.scalar(select(PasswordReset).where(PasswordReset.token_hash == token_hash(token)))
    if reset is None or reset.used_at is not None or reset.expires_at <= now():
        raise NotFound("this reset link has expired or was already used; ask for a new one")
    return reset


async def perform_reset(*, session: AsyncSession, token: str, password: str) -> Agent:
    reset = await open_reset(session=session, token=token)
    validate_password(password)
    agent = await session.get(Agent, reset.agent_id)
    if agent is None or not agent.active:
        raise NotFound("this reset link has expired or was already used; ask for a new one")
    reset.used_at = now()
    agent.password_hash = await DEFAULT_POOL.run(hash_password, password)  # argon2 off the event loop
    await end_all_sessions(session=session, agent_id=agent.id)
    await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="password_reset",
                 subject_type="agent", subject_id=agent.id)
    return agent
