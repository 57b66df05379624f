"""Organizations (tenants)."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.errors import Conflict, InvalidInput, NotFound
from bot.core.orgs.models import Organization

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:62] or "org"


async def create_organization(
    *,
    session: AsyncSession,
    name: str,
    slug: str | None = None,
    brand: str = "",
    profile: str = "",
    website: str = "",
) -> Organization:
    name = name.strip()
    if not name:
        raise InvalidInput("an organization needs a name")
    if len(name) > 200:
        raise InvalidInput("name: at most 200 characters")
    if await name_taken(session=session, name=name):
        raise Conflict("an organization with this name exists")
    slug = slug or await _free_slug(session, slugify(name))
    if not _SLUG.match(slug):
        raise InvalidInput("slug: lowercase letters, digits and dashes, 2 to 63 characters")
    if await session.scalar(select(Organization.id).where(Organization.slug == slug)):
        raise Conflict(f"organization {slug!r} exists")
    org = Organization(name=name, slug=slug, brand=brand or name, profile=profile, website=website)
    session.add(org)
    await session.flush()
    return org


async def name_taken(*, session: AsyncSession, name: str, except_id: int | None = None) -> bool:
    """Names are unique case-insensitively ("ACME" and "acme" are one organization)."""
    query = select(Organization.id).where(func.lower(Organization.name) == name.strip().lower())
    if except_id is not None:
        query = query.where(Organization.id != except_id)
    return bool(await session.scalar(query.limit(1)))


async def _free_slug(session: AsyncSession, base: str) -> str:
    """`acme`, else `acme-2`, `acme-3`…: names are unique case-insensitively, slugs of similar names may clash."""
    base = base if len(base) >= 2 else f"{base}-org"
    candidate, n = base, 1
    while await session.scalar(select(Organization.id).where(Organization.slug == candidate)):
        n += 1
        candidate = f"{base[:58]}-{n}"
    return candidate


async def get_organization_by_slug(*, session: AsyncSession, slug: str) -> Organization:
    org = await session.scalar(select(Organization).where(Organization.slug == slug))
    if org is None:
        raise NotFound("no such organization")
    return org


async def get_organization(*, session: AsyncSession, org_id: int) -> Organization:
    org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("no such organization")
    return org
