"""Agents, their passwords (argon2id) and their workbench sessions."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import Parameters, PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.common.errors import Conflict, InvalidInput, Unauthorized
from bot.core.orgs.models import Agent, AgentSession
from bot.core.security.password_pool import DEFAULT_POOL, PasswordPool

ROLES = ("platform_admin", "main_admin", "admin", "agent")
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verifying against this keeps the time of a login for an unknown email like that of a known one.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def use_parameters(parameters: Parameters) -> None:
    """New hashes (and the unknown-email dummy) with these argon2 parameters. The test suite's own setting
    (tests/conftest.py: argon2's CHEAPEST profile; at the default cost each hash and each check took ~0.18 s of
    CPU, minutes of a suite that signs in hundreds of times). The product never calls it."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher.from_parameters(parameters)
    _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    return secrets.token_urlsafe(12)


async def create_agent(
    *, session: AsyncSession, org_id: int | None, email: str, password: str, name: str = "", role: str = "agent",
    pool: PasswordPool = DEFAULT_POOL,
) -> Agent:
    """An agent of an organization, or (org_id None, role platform_admin) a platform admin of none."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise InvalidInput("email: not an email address")
    validate_password(password)
    if role not in ROLES:
        raise InvalidInput("role: one of %(choices)s", choices=", ".join(ROLES))
    if (role == "platform_admin") != (org_id is None):
        raise InvalidInput("role: platform admins belong to no organization, everyone else to one")
    same_org = Agent.org_id.is_(None) if org_id is None else Agent.org_id == org_id
    exists = await session.scalar(select(Agent.id).where(same_org, Agent.email == email))
    if exists:
        raise Conflict("an agent with this email exists")
    password_hash = await pool.run(hash_password, password)
    agent = Agent(org_id=org_id, email=email, name=name or email.split("@")[0], password_hash=password_hash, role=role)
    session.add(agent)
    await session.flush()
    return agent


async def login_candidates(*, session: AsyncSession, email: str) -> list[Agent]:
    """The active agents with this email, across organizations (emails are per org)."""
    email = email.strip().lower()
    return list((await session.scalars(select(Agent).where(Agent.email == email, Agent.active.is_(True)))).all())


async def check_login(*, candidates: list[Agent], password: str, pool: PasswordPool = DEFAULT_POOL) -> Agent:
    """The first candidate whose password this is. Needs no session: a sign-in holds no database connection
    (nor, on SQLite, the writer's turn) while argon2 runs in `pool`'s threads."""
    if not candidates:
        await pool.run(_verify, _DUMMY_HASH, password)
        raise Unauthorized("wrong email or password")
    for agent in candidates:
        if await pool.run(_verify, agent.password_hash, password):
            return agent
    raise Unauthorized("wrong email or password")


async def authenticate(*, session: AsyncSession, email: str, password: str, pool: PasswordPool = DEFAULT_POOL) -> Agent:
    """The agent with this email and password, across organizations (first match wins)."""
    return await check_login(candidates=await login_candidates(session=session, email=email), password=password, pool=pool)


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(*, session: AsyncSession, agent: Agent, hours: int) -> NewSession:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.add(
        AgentSession(
            token_hash=_token_hash(token), agent_id=agent.id, csrf_token=csrf, expires_at=now() + timedelta(hours=hours)
        )
    )
    await session.flush()
    return NewSession(token=token, csrf_token=csrf)


async def session_agent(*, session: AsyncSession, token: str) -> tuple[Agent, AgentSession]:
    row = await session.scalar(select(AgentSession).where(AgentSession.token_hash == _token_hash(token)))
    if row is None or row.expires_at < now():
        raise Unauthorized("session expired")
    agent = await session.get(Agent, row.agent_id)
    if agent is None or not agent.active:
        raise Unauthorized("session expired")
    return agent, row


async def end_session(*, session: AsyncSession, token: str) -> None:
    await session.execute(delete(AgentSession).where(AgentSession.token_hash == _token_hash(token)))


async def end_all_sessions(*, session: AsyncSession, agent_id: int) -> None:
    """Signs the agent out everywhere: the next request of any of its browsers goes to the login page."""
    await session.execute(delete(AgentSession).where(AgentSession.agent_id == agent_id))


async def check_password(agent: Agent, password: str, pool: PasswordPool = DEFAULT_POOL) -> bool:
    return await pool.run(_verify, agent.password_hash, password)


def validate_password(password: str) -> None:
    if len(password) < 10:
        raise InvalidInput("password: at least 10 characters")
    if len(password) > 1024:
        raise InvalidInput("password: at most 1024 characters")


async def agent_names(*, session: AsyncSession, org_id: int) -> dict[int, str]:
    rows = await session.execute(select(Agent.id, Agent.name).where(Agent.org_id == org_id))
    return {agent_id: name for agent_id, name in rows}


async def list_agents(*, session: AsyncSession, org_id: int) -> list[Agent]:
    return list(await session.scalars(select(Agent).where(Agent.org_id == org_id, Agent.active.is_(True)).order_by(Agent.name)))
