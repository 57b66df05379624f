"""Organizations (tenants).

Guarantees: names are unique after folding (`name_key`: Unicode NFKC, case-folded, runs of spaces as one),
and the database enforces it with a UNIQUE column, so two concurrent sign-ups of one name cannot both
commit (PostgreSQL runs them in parallel); the loser gets the same Conflict as a sequential duplicate,
never an IntegrityError. A slug clash between different names is retried with the next free slug.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
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
    if slug is not None and not _SLUG.match(slug):
        raise InvalidInput("slug: lowercase letters, digits and dashes, 2 to 63 characters")
    for _attempt in range(5):
        if await name_taken(session=session, name=name):
            raise Conflict(NAME_TAKEN)
        chosen = slug or await _free_slug(session, slugify(name))
        if await session.scalar(select(Organization.id).where(Organization.slug == chosen)):
            raise Conflict("organization %(slug)s exists", slug=repr(chosen))
        org = Organization(name=name, name_key=name_key(name), slug=chosen, brand=brand or name, profile=profile,
                           website=website)
        if await _flushed(session, org):
            return org
    raise Conflict(NAME_TAKEN)  # five slug clashes in a row: sign-ups of look-alike names are racing


NAME_TAKEN = "an organization with this name exists"


def name_key(name: str) -> str:
    """What two names must share to be one organization's: "ACME  Ltd" and "acme ltd" are one name."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


async def name_taken(*, session: AsyncSession, name: str, except_id: int | None = None) -> bool:
    """Names are unique case-insensitively ("ACME" and "acme" are one organization)."""
    query = select(Organization.id).where(Organization.name_key == name_key(name))
    if except_id is not None:
        query = query.where(Organization.id != except_id)
    return bool(await session.scalar(query.limit(1)))


async def rename(*, session: AsyncSession, org: Organization, name: str) -> None:
    """Sets a new name, refused (Conflict) when another organization holds it, also by a concurrent rename."""
    if await name_taken(session=session, name=name, except_id=org.id):
        raise Conflict(NAME_TAKEN)
    org.name, org.name_key = name, name_key(name)
    if not await _flushed(session, org):
        raise Conflict(NAME_TAKEN)


async def _flushed(session: AsyncSession, org: Organization) -> bool:
    """Writes `org` in a savepoint: False when a UNIQUE column refused it (the savepoint is rolled back and the
    session stays usable). On PostgreSQL the INSERT waits for a concurrent writer of the same key to commit."""
    try:
        async with session.begin_nested():
            session.add(org)
    except IntegrityError:
        return False
    return True


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
