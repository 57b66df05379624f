"""Privacy-policy versions: published by platform admins, major or minor, with a summary.

The current version is the newest published one (before any is published: `privacy.policy_version`).
A major version needs every customer to consent again: `publish` starts one broadcast per organization
telling every reachable customer, and `needs_reconsent` is the gate the flows check before anything
optional runs. Consent itself stays in bot/core/customers.py.
"""

from __future__ import annotations

import time
import weakref

from sqlalchemy import Engine, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.common.errors import Conflict, InvalidInput
from bot.core.conversations.customers import latest_consent
from bot.core.models import Agent, Organization, PolicyVersion
from bot.core.orgs import broadcasts
from bot.core.orgs.audit import record

# Per database (engine): the flows ask on every message, the answer changes a few times a year.
_CACHE: weakref.WeakKeyDictionary[Engine, tuple[float, PolicyVersion | None]] = weakref.WeakKeyDictionary()
CACHE_SECONDS = 5.0  # other processes see a newly published version within this


async def current(*, session: AsyncSession) -> PolicyVersion | None:
    engine = session.get_bind().engine
    hit = _CACHE.get(engine)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    row = await session.scalar(select(PolicyVersion).order_by(PolicyVersion.published_at.desc(), PolicyVersion.id.desc()).limit(1))
    if row is not None:
        session.expunge(row)
    _CACHE[engine] = (time.monotonic() + CACHE_SECONDS, row)
    return row


async def current_version(*, session: AsyncSession, settings: Settings) -> str:
    row = await current(session=session)
    return row.version if row is not None else settings.privacy.policy_version


class _Unread:
    pass


UNREAD = _Unread()


async def needs_reconsent(
    *, session: AsyncSession, customer_id: int, answered: str | None | _Unread = UNREAD
) -> PolicyVersion | None:
    """The current major version if this customer answered an older version but not this one; else None
    (a first-time customer gets the ordinary notice from the greeting). `answered`: the version of the customer's
    latest consent answer when the caller has read it already (None: never answered); else it is looked up."""
    row = await current(session=session)
    if row is None or not row.major:
        return None
    if isinstance(answered, _Unread):
        consent = await latest_consent(session=session, customer_id=customer_id)
        answered = consent.policy_version if consent is not None else None
    if answered is None or answered == row.version:
        return None
    return row


async def publish(*, session: AsyncSession, actor: Agent, version: str, summary: str, major: bool) -> PolicyVersion:
    version, summary = version.strip(), summary.strip()
    if not version or len(version) > 40:
        raise InvalidInput("version: 1 to 40 characters")
    if not summary or len(summary) > 3000:
        raise InvalidInput("summary: 1 to 3000 characters")
    if await session.scalar(select(PolicyVersion.id).where(PolicyVersion.version == version)):
        raise Conflict("this version is already published")
    row = PolicyVersion(version=version, summary=summary, major=major)
    session.add(row)
    await session.flush()
    _CACHE.pop(session.get_bind().engine, None)
    await record(session=session, org_id=None, actor_type="platform_admin", actor_id=actor.id, action="policy_published",
                 subject_type="policy_version", subject_id=row.id, detail={"version": version, "major": major})
    if major:
        for org_id in await session.scalars(select(Organization.id).order_by(Organization.id)):
            broadcast = await broadcasts.create(
                session=session, org_id=org_id, actor=None, kind="policy", client_key=f"policy:{version}",
                title=f"Privacy policy {version}: a major change", policy_version=version,
                body=f"{summary}\n\nPlease read the new policy and tell us whether you agree.")
            await broadcasts.start(session=session, org_id=org_id, broadcast_id=broadcast.id, actor=None)
    return row
