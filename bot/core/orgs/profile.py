"""An organization's public profile (shown in the brand card) and its settings: service switches, the
two-factor requirement for admins. Every change is audited with what changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.errors import InvalidInput
from bot.core.files.attachments import check_upload, store_attachment
from bot.core.files.models import Attachment
from bot.core.orgs.audit import record
from bot.core.orgs.models import Agent, Organization
from bot.core.orgs.organizations import rename

PROFILE_FIELDS: dict[str, int] = {"name": 200, "brand": 200, "profile": 2000, "website": 500, "location": 200, "industry": 200}
TOO_LONG = {  # one catalogue key a field, so the field's name is translated with its sentence
    "name": "name: at most %(limit)s characters", "brand": "brand: at most %(limit)s characters",
    "profile": "profile: at most %(limit)s characters", "website": "website: at most %(limit)s characters",
    "location": "location: at most %(limit)s characters", "industry": "industry: at most %(limit)s characters",
}
# The switches an organization can turn off; a missing key is on. Other features read them with service_on().
SERVICES: dict[str, str] = {
    "channel:webchat": "Web chat",
    "channel:telegram": "Telegram",
    "channel:slack": "Slack",
    "work_orders": "Work orders",
    "rights:review": "Rights requests: review",
    "rights:correct": "Rights requests: correction",
    "rights:export": "Rights requests: export",
    "rights:delete": "Rights requests: deletion",
    "rights:cancel": "Rights requests: account cancellation",
    "apps": "Third-party apps",
}


def service_on(org: Organization, key: str) -> bool:
    return (org.services or {}).get(key, True) is not False


async def _org(session: AsyncSession, actor: Agent) -> Organization:
    org = await session.get(Organization, actor.org_id)
    assert org is not None  # agent_page lets only organization members here
    return org


async def update_profile(*, session: AsyncSession, actor: Agent, values: dict[str, str]) -> Organization:
    org = await _org(session, actor)
    changed: dict[str, Any] = {}
    for field, limit in PROFILE_FIELDS.items():
        if field not in values:
            continue
        value = values[field].strip()
        if len(value) > limit:
            raise InvalidInput(TOO_LONG[field], limit=limit)
        if field == "name" and not value:
            raise InvalidInput("name: an organization needs a name")
        if field == "website" and value and not value.startswith(("https://", "http://")):
            raise InvalidInput("website: an http:// or https:// address")
        if getattr(org, field) != value:
            changed[field] = value
    for field, value in changed.items():
        if field != "name":
            setattr(org, field, value)
    if "name" in changed:
        await rename(session=session, org=org, name=changed["name"])
    if changed:
        await record(session=session, org_id=org.id, actor_type="agent", actor_id=actor.id, action="update_profile",
                     subject_type="organization", subject_id=org.id, detail={"fields": sorted(changed)})
    return org


async def set_logo(*, session: AsyncSession, actor: Agent, data_dir: Path, filename: str, mime_type: str, content: bytes,
                   max_bytes: int, allowed: list[str]) -> Attachment:
    check_upload(size=len(content), mime_type=mime_type, max_bytes=max_bytes, allowed=allowed)
    org = await _org(session, actor)
    logo = await store_attachment(session=session, data_dir=data_dir, org_id=org.id, customer_id=None, filename=filename,
                                  mime_type=mime_type, content=content)
    org.logo_attachment_id = logo.id
    await record(session=session, org_id=org.id, actor_type="agent", actor_id=actor.id, action="update_logo",
                 subject_type="organization", subject_id=org.id)
    return logo


async def update_settings(*, session: AsyncSession, actor: Agent, enabled: set[str], require_admin_totp: bool) -> Organization:
    unknown = enabled - set(SERVICES)
    if unknown:
        raise InvalidInput("services: unknown %(services)s", services=", ".join(sorted(unknown)))
    org = await _org(session, actor)
    before = {key: service_on(org, key) for key in SERVICES}
    org.services = {key: False for key in SERVICES if key not in enabled}
    after = {key: service_on(org, key) for key in SERVICES}
    changes = {key: after[key] for key in SERVICES if before[key] != after[key]}
    if org.require_admin_totp != require_admin_totp:
        changes["require_admin_totp"] = require_admin_totp
        org.require_admin_totp = require_admin_totp
    if changes:
        await record(session=session, org_id=org.id, actor_type="agent", actor_id=actor.id, action="update_settings",
                     subject_type="organization", subject_id=org.id, detail={"changes": changes})
    return org
