"""`register` in the chat: name (duplicates refused in any letter case), email, then a link by real SMTP
that makes its holder the new organization's main administrator."""

from __future__ import annotations

import re

import aiohttp
from sqlalchemy import select

from bot.core.orgs.models import Agent, Organization
from tests.conftest import Server
from tests.fakes.smtp import SmtpSink, body_text
from tests.flows.helpers import bot_says, start_chat
from tests.utils.factories import OrgWithAdmin, csrf_from, login
from tests.utils.webchat import Visitor

PASSWORD = "the new main admin's passphrase"


async def test_register_an_organization_from_the_chat(mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink) -> None:
    visitor = Visitor(mail_server.url)
    try:
        await start_chat(visitor)
        await visitor.say("register")
        await bot_says(visitor, "name of the organization")
        await visitor.say("demo COMPANY")
        await bot_says(visitor, "already registered")
        await visitor.say("Blue Harbor Trading")
        await bot_says(visitor, "main administrator")
        await visitor.say("not an address")
        await bot_says(visitor, "does not look like an email")
        await visitor.say("Owner@BlueHarbor.example.com")
        await bot_says(visitor, "Blue Harbor Trading is registered")
    finally:
        await visitor.close()
    mail = body_text(await smtp_sink.wait_for("owner@blueharbor.example.com"))
    match = re.search(r"(/workbench/invite/[\w-]+)", mail)
    assert match, mail
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(mail_server.url + match.group(1)) as resp:
            token = csrf_from(await resp.text())
        async with http.post(mail_server.url + match.group(1), allow_redirects=False,
                             data={"name": "Owner", "password": PASSWORD, "csrf_token": token}) as resp:
            assert resp.status == 303
        await login(http, mail_server.url, "owner@blueharbor.example.com", PASSWORD)
    async with mail_server.ctx.factory() as session:
        new = await session.scalar(select(Organization).where(Organization.name == "Blue Harbor Trading"))
        assert new is not None
        roles = list(await session.scalars(select(Agent.role).where(Agent.org_id == new.id)))
    assert roles == ["main_admin"]
