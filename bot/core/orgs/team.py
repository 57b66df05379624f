"""The team of an organization: invitations by expiring link, role changes, transfer of the main
administrator, deactivation, password change, and a reset of a member's two-factor login (a lost phone).

Guarantees: an organization never has zero active main administrators (every demotion, transfer and
deactivation checks it in the same transaction); an invitation link works once and only until it
expires; deactivating an agent, changing its password or resetting its two-factor login ends its (other) sessions
at once; every change is audited by the caller's transaction (`record`). Agents of another organization are
NotFound.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.common.errors import Conflict, Forbidden, InvalidInput, NotFound
from bot.core.orgs.agents import check_password, create_agent, end_all_sessions, hash_password, validate_password
from bot.core.orgs.audit import record
from bot.core.orgs.models import Agent, Invitation
from bot.core.orgs.permissions import Permission, Role, may, member_org_id
from bot.core.orgs.tokens import new_token, token_hash
from bot.core.security.password_pool import DEFAULT_POOL, PasswordPool

INVITABLE = (Role.ADMIN.value, Role.AGENT.value)


async def _audit(session: AsyncSession, actor: Agent, action: str, subject_id: int | None, **detail: object) -> None:
    await record(session=session, org_id=actor.org_id, actor_type="agent", actor_id=actor.id, action=action,
                 subject_type="agent", subject_id=subject_id, detail=dict(detail))


async def list_team(*, session: AsyncSession, org_id: int) -> list[Agent]:
    return list(await session.scalars(select(Agent).where(Agent.org_id == org_id).order_by(Agent.active.desc(), Agent.name)))


async def list_open_invitations(*, session: AsyncSession, org_id: int) -> list[Invitation]:
    query = select(Invitation).where(Invitation.org_id == org_id, Invitation.used_at.is_(None), Invitation.expires_at > now())
    return list(await session.scalars(query.order_by(Invitation.id.desc())))


async def invite(*, session: AsyncSession, actor: Agent, email: str, role: str, hours: int) -> tuple[Invitation, str]:
    """An invitation and its token (shown once; only the hash is kept)."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise InvalidInput("email: not an email address")
    if role not in INVITABLE:
        raise InvalidInput("role: one of %(choices)s", choices=", ".join(INVITABLE))
    taken = await session.scalar(select(Agent.id).where(Agent.org_id == actor.org_id, Agent.email == email))
    if taken:
        raise Conflict("this address already belongs to a member of the team")
    token, digest = new_token()
    invitation = Invitation(org_id=actor.org_id, email=email, role=role, token_hash=digest, invited_by=actor.id,
                            expires_at=now() + timedelta(hours=hours))
    session.add(invitation)
    await session.flush()
    await record(session=session, org_id=actor.org_id, actor_type="agent", actor_id=actor.id, action="invite_agent",
                 subject_type="invitation", subject_id=invitation.id, detail={"role": role})
    return invitation, token


async def open_invitation(*, session: AsyncSession, token: str) -> Invitation:
    invitation = await session.scalar(select(Invitation).where(Invitation.token_hash == token_hash(token)))
    if invitation is None or invitation.used_at is not None or invitation.expires_at <= now():
        raise NotFound("this invitation link has expired or was already used; ask your administrator for a new one")
    return invitation


async def accept_invitation(*, session: AsyncSession, token: str, name: str, password: str) -> Agent:
    invitation = await open_invitation(session=session, token=token)
    invitation.used_at = now()
    agent = await create_agent(session=session, org_id=invitation.org_id, email=invitation.email, password=password,
                               name=name.strip()[:200], role=invitation.role)
    await record(session=session, org_id=invitation.org_id, actor_type="agent", actor_id=agent.id, action="accept_invitation",
                 subject_type="invitation", subject_id=invitation.id, detail={"role": invitation.role})
    return agent


async def _member(session: AsyncSession, actor: Agent, agent_id: int) -> Agent:
    agent = await session.get(Agent, agent_id)
    if agent is None or agent.org_id != actor.org_id or actor.org_id is None:
        raise NotFound("no such team member")
    return agent


async def _main_admins_left(session: AsyncSession, org_id: int, without: int) -> int:
    query = select(func.count()).select_from(Agent).where(
        Agent.org_id == org_id, Agent.role == Role.MAIN_ADMIN.value, Agent.active.is_(True), Agent.id != without
    )
    return int(await session.scalar(query) or 0)


async def change_role(*, session: AsyncSession, actor: Agent, agent_id: int, role: str) -> Agent:
    """Admins move members between admin and agent; only a main administrator grants or removes main_admin."""
    if role not in {r.value for r in (Role.MAIN_ADMIN, Role.ADMIN, Role.AGENT)}:
        raise InvalidInput("role: one of main_admin, admin, agent")
    agent = await _member(session, actor, agent_id)
    touches_main = Role.MAIN_ADMIN.value in (role, agent.role)
    if touches_main and not may(actor.role, Permission.MAIN_ADMIN_TRANSFER):
        raise Forbidden("only a main administrator changes who is main administrator")
    if agent.role == Role.MAIN_ADMIN.value and role != agent.role and not await _main_admins_left(session, member_org_id(actor), agent.id):
        raise Conflict("the organization needs a main administrator; transfer the role first")
    before, agent.role = agent.role, role
    await _audit(session, actor, "change_role", agent.id, before=before, after=role)
    return agent


async def transfer_main_admin(*, session: AsyncSession, actor: Agent, agent_id: int) -> Agent:
    """The actor hands the main administrator role to another active member and becomes an admin."""
    if actor.role != Role.MAIN_ADMIN.value:
        raise Forbidden("only the main administrator transfers the role")
    agent = await _member(session, actor, agent_id)
    if agent.id == actor.id or not agent.active:
        raise InvalidInput("choose another active member of the team")
    agent.role = Role.MAIN_ADMIN.value
    me = await session.get(Agent, actor.id)
    assert me is not None
    me.role = Role.ADMIN.value
    await _audit(session, actor, "transfer_main_admin", agent.id, before=actor.id, after=agent.id)
    return agent


async def deactivate(*, session: AsyncSession, actor: Agent, agent_id: int) -> Agent:
    agent = await _member(session, actor, agent_id)
    if agent.role == Role.MAIN_ADMIN.value:
        if not may(actor.role, Permission.MAIN_ADMIN_TRANSFER):
            raise Forbidden("only a main administrator deactivates a main administrator")
        if not await _main_admins_left(session, member_org_id(actor), agent.id):
            raise Conflict("the organization needs a main administrator; transfer the role first")
    agent.active = False
    await end_all_sessions(session=session, agent_id=agent.id)
    await _audit(session, actor, "deactivate_agent", agent.id)
    return agent


async def reset_two_factor(*, session: AsyncSession, actor: Agent, agent_id: int) -> Agent:
    """A member lost the device of their two-factor login: an administrator turns it off for them, so that they sign
    in with their password and set it up again (where the organization requires it of administrators, the account
    page is all they see until they do). Their sessions end. A main administrator's is reset only by a main
    administrator; one's own is turned off on the account page (with a code). The caller tells the member
    (bot/core/notifications/account.py)."""
    agent = await _member(session, actor, agent_id)
    if agent.id == actor.id:
        raise InvalidInput("turn your own two-factor login off on your account page")
    if agent.role == Role.MAIN_ADMIN.value and not may(actor.role, Permission.MAIN_ADMIN_TRANSFER):
        raise Forbidden("only a main administrator resets a main administrator's two-factor login")
    _reset(agent)
    await end_all_sessions(session=session, agent_id=agent.id)
    await _audit(session, actor, "reset_totp", agent.id)
    return agent


async def reset_two_factor_by_operator(*, session: AsyncSession, org_id: int | None, email: str) -> Agent:
    """`incs admin reset-totp`: the server's operator resets anyone's (the organization's only main administrator
    lost their phone; a platform admin)."""
    agent = await session.scalar(select(Agent).where(Agent.org_id.is_(None) if org_id is None else Agent.org_id == org_id,
                                                     Agent.email == email.strip().lower()))
    if agent is None:
        raise NotFound("no such agent")
    _reset(agent)
    await end_all_sessions(session=session, agent_id=agent.id)
    await record(session=session, org_id=agent.org_id, actor_type="system", actor_id=None, action="reset_totp",
                 subject_type="agent", subject_id=agent.id, detail={"by": "operator"})
    return agent


def _reset(agent: Agent) -> None:
    if not agent.totp_secret:
        raise InvalidInput("two-factor login is already off")
    agent.totp_secret = ""  # totp_last_step stays: a code of the old secret's last step is still refused


async def reactivate(*, session: AsyncSession, actor: Agent, agent_id: int) -> Agent:
    agent = await _member(session, actor, agent_id)
    agent.active = True
    await _audit(session, actor, "reactivate_agent", agent.id)
    return agent


async def change_password(
    *, session: AsyncSession, agent: Agent, current: str, new: str, pool: PasswordPool = DEFAULT_POOL
) -> None:
    """Needs the current password; other sessions end (the caller starts a fresh one). argon2 runs in `pool`."""
    row = await session.get(Agent, agent.id)
    if row is None or not await check_password(row, current, pool):
        raise Forbidden("the current password is wrong")
    validate_password(new)
    row.password_hash = await pool.run(hash_password, new)
    await end_all_sessions(session=session, agent_id=row.id)
    await record(session=session, org_id=row.org_id, actor_type="agent", actor_id=row.id, action="change_password",
                 subject_type="agent", subject_id=row.id)
