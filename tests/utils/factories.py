"""Test factories: organizations, agents, signed-in clients."""

from __future__ import annotations

import re
from dataclasses import dataclass

import aiohttp

from bot.core.orgs.agents import create_agent
from bot.core.orgs.models import Agent, Organization
from bot.core.orgs.organizations import create_organization
from bot.core.storage.db import SessionFactory, transaction

PASSWORD = "correct horse battery staple"


@dataclass
class OrgWithAdmin:
    org: Organization
    admin: Agent
    password: str = PASSWORD


async def make_org(factory: SessionFactory, slug: str = "demo", name: str | None = None) -> OrgWithAdmin:
    name = name or ("Demo Company" if slug == "demo" else f"{slug.title()} Company")  # names are unique per platform
    async with transaction(factory) as session:
        org = await create_organization(
            session=session, name=name, slug=slug, profile=f"{name} profile", website=f"https://{slug}.example.com"
        )
        admin = await create_agent(
            session=session, org_id=org.id, email=f"admin@{slug}.example.com", password=PASSWORD, name=f"{slug} admin",
            role="main_admin",
        )
    return OrgWithAdmin(org=org, admin=admin)


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


async def login(http: aiohttp.ClientSession, base: str, email: str, password: str = PASSWORD) -> str:
    """Signs in through the real login form; returns the session's CSRF token."""
    async with http.get(f"{base}/workbench/login") as resp:
        token = csrf_from(await resp.text())
    async with http.post(
        f"{base}/workbench/login", data={"email": email, "password": password, "csrf_token": token}, allow_redirects=False
    ) as resp:
        assert resp.status == 302, await resp.text()
    async with http.get(f"{base}/workbench") as resp:
        assert resp.status == 200
        return csrf_from(await resp.text())


async def make_platform_admin(factory: SessionFactory, email: str = "platform@incs.example.com") -> Agent:
    """A platform admin: belongs to no organization."""
    async with transaction(factory) as session:
        return await create_agent(session=session, org_id=None, email=email, password=PASSWORD, name="Platform",
                                  role="platform_admin")
