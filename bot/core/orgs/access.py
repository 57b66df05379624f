"""Platform access to an organization's conversations: only while the organization grants it.

Guarantees: an organization admin grants (for `orgs.platform_grant_hours`) or revokes; a platform admin
without a live grant gets Forbidden; every grant, revocation and every conversation a platform admin
opens is audited in the organization's chain.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.common.errors import Forbidden, InvalidInput
from bot.core.orgs.audit import record
from bot.core.orgs.models import Agent, PlatformAccessGrant
from bot.core.orgs.permissions import member_org_id


async def active_grant(*, session: AsyncSession, org_id: int) -> PlatformAccessGrant | None:
    query = select(PlatformAccessGrant).where(
        PlatformAccessGrant.org_id == org_id, PlatformAccessGrant.revoked_at.is_(None), PlatformAccessGrant.expires_at > now()
    )
    return await session.scalar(query.order_by(PlatformAccessGrant.id.desc()).limit(1))


async def grant(*, session: AsyncSession, actor: Agent, hours: int, reason: str) -> PlatformAccessGrant:
    reason = reason.strip()
    if not reason or len(reason) > 500:
        raise InvalidInput("reason: why the platform may read your conversations (up to 500 characters)")
    row = PlatformAccessGrant(org_id=actor.org_id, granted_by=actor.id, reason=reason, expires_at=now() + timedelta(hours=hours))
    session.add(row)
    await session.flush()
    await record(session=session, org_id=actor.org_id, actor_type="agent", actor_id=actor.id, action="grant_platform_access",
                 subject_type="grant", subject_id=row.id, detail={"hours": hours, "reason": reason})
    return row


async def revoke(*, session: AsyncSession, actor: Agent) -> None:
    current = await active_grant(session=session, org_id=member_org_id(actor))
    if current is not None:
        current.revoked_at = now()
        await record(session=session, org_id=actor.org_id, actor_type="agent", actor_id=actor.id,
                     action="revoke_platform_access", subject_type="grant", subject_id=current.id)


async def require_grant(*, session: AsyncSession, reader: Agent, org_id: int, action: str, subject_id: int | None) -> None:
    """Raises Forbidden without a live grant; otherwise audits the read in the organization's chain."""
    current = await active_grant(session=session, org_id=org_id)
    if current is None:
        raise Forbidden("this organization has not granted the platform access to its conversations")
    await record(session=session, org_id=org_id, actor_type="platform_admin", actor_id=reader.id, action=action,
                 subject_type="conversation", subject_id=subject_id, detail={"grant_id": current.id})
