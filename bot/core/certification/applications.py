"""Certification: an organization applies (legal name, address, business license file); a platform admin
approves, or rejects with a reason the applicant sees.

Guarantees: the license is type- and size-checked before anything is written; one application is open
per organization at a time; `certification_submitted` goes to the platform admins only; the decision
and who made it are audited in the organization's chain; `Organization.certification_state` is
`none | submitted | certified | rejected` and the brand card shows the badge only when `certified`.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.common.clock import now
from bot.core.common.errors import Conflict, InvalidInput, NotFound
from bot.core.files.attachments import check_upload, store_attachment
from bot.core.files.models import Attachment
from bot.core.notifications.fanout import NotificationKind, raise_event
from bot.core.orgs.audit import record
from bot.core.orgs.models import Agent, CertificationApplication, Organization

STATES = ("submitted", "approved", "rejected")  # an application's
ORG_STATES = ("none", "submitted", "certified", "rejected")  # `Organization.certification_state`
# The form's refusals by field (one catalogue key each, so the field's name is translated with its sentence).
MISSING = {"legal_name": "legal_name: required", "address": "address: required"}
TOO_LONG = {"legal_name": "legal_name: at most %(limit)s characters", "address": "address: at most %(limit)s characters"}


def _required(value: str, field: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput(MISSING[field])
    if len(value) > limit:
        raise InvalidInput(TOO_LONG[field], limit=limit)
    return value


async def apply(
    *, session: AsyncSession, actor: Agent, settings: Settings, legal_name: str, address: str,
    filename: str, mime_type: str, content: bytes, data_dir: Path,
) -> CertificationApplication:
    legal_name = _required(legal_name, "legal_name", 300)
    address = _required(address, "address", 500)
    limits = settings.orgs
    check_upload(size=len(content), mime_type=mime_type, max_bytes=limits.license_max_bytes, allowed=limits.license_mime_types)
    org = await session.get(Organization, actor.org_id)
    assert org is not None
    if org.certification_state in ("submitted", "certified"):
        raise Conflict("an application is under review" if org.certification_state == "submitted" else "already certified")
    license_file = await store_attachment(session=session, data_dir=data_dir, org_id=org.id, customer_id=None,
                                          filename=filename, mime_type=mime_type, content=content)
    application = CertificationApplication(org_id=org.id, legal_name=legal_name, address=address,
                                           license_attachment_id=license_file.id, submitted_by=actor.id)
    session.add(application)
    org.certification_state = "submitted"
    await session.flush()
    await record(session=session, org_id=org.id, actor_type="agent", actor_id=actor.id, action="certification_submitted",
                 subject_type="certification", subject_id=application.id)
    await raise_event(session=session, org_id=org.id, kind=NotificationKind.CERTIFICATION_SUBMITTED,
                      subject_type="certification", subject_id=application.id,
                      title=f"Certification application from {org.name}",
                      url=f"/workbench/platform/certifications/{application.id}",
                      dedup_key=f"certification_submitted:{application.id}", settings=settings)
    return application


async def latest_application(*, session: AsyncSession, org_id: int) -> CertificationApplication | None:
    query = select(CertificationApplication).where(CertificationApplication.org_id == org_id)
    return await session.scalar(query.order_by(CertificationApplication.id.desc()).limit(1))


async def list_applications(
    *, session: AsyncSession, state: str | None = "submitted"
) -> list[tuple[CertificationApplication, Organization]]:
    query = select(CertificationApplication, Organization).join(Organization, Organization.id == CertificationApplication.org_id)
    if state:
        query = query.where(CertificationApplication.state == state)
    rows = await session.execute(query.order_by(CertificationApplication.id.desc()).limit(200))
    return [(application, org) for application, org in rows]


async def get_application(*, session: AsyncSession, application_id: int) -> tuple[CertificationApplication, Organization]:
    application = await session.get(CertificationApplication, application_id)
    org = await session.get(Organization, application.org_id) if application is not None else None
    if application is None or org is None:
        raise NotFound("no such application")
    return application, org


async def license_of(*, session: AsyncSession, reviewer: Agent, application_id: int) -> Attachment:
    application, org = await get_application(session=session, application_id=application_id)
    attachment = await session.get(Attachment, application.license_attachment_id)
    if attachment is None:
        raise NotFound("no such file")
    await record(session=session, org_id=org.id, actor_type="platform_admin", actor_id=reviewer.id, action="view_license",
                 subject_type="certification", subject_id=application.id)
    return attachment


async def decide(
    *, session: AsyncSession, reviewer: Agent, application_id: int, approve: bool, reason: str = ""
) -> CertificationApplication:
    application, org = await get_application(session=session, application_id=application_id)
    if application.state != "submitted":
        raise Conflict("this application was already decided")
    reason = reason.strip()
    if not approve and not reason:
        raise InvalidInput("reason: say why, the applicant sees it")
    if len(reason) > 2000:
        raise InvalidInput("reason: at most 2000 characters")
    application.state = "approved" if approve else "rejected"
    application.reason = reason
    application.reviewed_by, application.reviewed_at = reviewer.id, now()
    org.certification_state = "certified" if approve else "rejected"
    await record(session=session, org_id=org.id, actor_type="platform_admin", actor_id=reviewer.id,
                 action="certification_approved" if approve else "certification_rejected",
                 subject_type="certification", subject_id=application.id, detail={"reason": reason})
    return application
