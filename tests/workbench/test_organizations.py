"""Organizations over real HTTP: sign-up (name required, duplicates refused case-insensitively), profile,
certification application checked by type and size, platform review with a reason the applicant sees,
the certified badge in the brand card, platform access only by grant, service switches."""

from __future__ import annotations

import asyncio
import io
import re

import aiohttp
from sqlalchemy import func, select

from bot.core.files.models import Attachment
from bot.core.notifications.models import NotificationPush
from bot.core.orgs.models import AuditEvent, CertificationApplication, Organization
from tests.conftest import Server
from tests.utils.factories import PASSWORD, OrgWithAdmin, csrf_from, login, make_platform_admin
from tests.utils.webchat import Visitor

PDF = b"%PDF-1.4 business license"


async def _signup(http: aiohttp.ClientSession, server: Server, **data: str) -> aiohttp.ClientResponse:
    async with http.get(f"{server.url}/workbench/signup") as resp:
        token = csrf_from(await resp.text())
    return await http.post(f"{server.url}/workbench/signup", data={**data, "csrf_token": token}, allow_redirects=False)


async def test_sign_up_needs_a_name_and_refuses_duplicates_in_any_case(server: Server, demo: OrgWithAdmin,
                                                                       http: aiohttp.ClientSession) -> None:
    base = {"name": "Ada", "email": "ada@acme.example.com", "password": PASSWORD}
    assert (await _signup(http, server, org_name="   ", **base)).status == 400
    assert (await _signup(http, server, org_name="DEMO company", **base)).status == 409  # "Demo Company" exists
    resp = await _signup(http, server, org_name="Acme Ltd", **base)
    assert resp.status == 303 and resp.headers["Location"] == "/workbench/organization"
    async with http.get(f"{server.url}/workbench/organization") as page:
        assert page.status == 200 and "Acme Ltd" in await page.text()
    async with server.ctx.factory() as session:
        names = list(await session.scalars(select(Organization.name).order_by(Organization.id)))
        signups = await session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "sign_up"))
    assert names == ["Demo Company", "Acme Ltd"] and signups == 1


async def test_profile_fields_and_logo_are_checked_and_audited(server: Server, demo: OrgWithAdmin,
                                                               http: aiohttp.ClientSession) -> None:
    csrf = await login(http, server.url, demo.admin.email)
    url = f"{server.url}/workbench/organization/profile"
    fields = {"name": "Demo Company", "brand": "Demo", "profile": "We help.", "website": "https://demo.example.com",
              "location": "Shanghai", "industry": "Retail"}
    async with http.post(url, data={**fields, "website": "javascript:alert(1)", "csrf_token": csrf}) as resp:
        assert resp.status == 400
    form = aiohttp.FormData({**fields, "csrf_token": csrf})
    form.add_field("logo", io.BytesIO(b"not an image"), filename="logo.exe", content_type="application/x-msdownload")
    async with http.post(url, data=form) as resp:
        assert resp.status == 415
    form = aiohttp.FormData({**fields, "csrf_token": csrf})
    form.add_field("logo", io.BytesIO(b"\x89PNG fake"), filename="logo.png", content_type="image/png")
    async with http.post(url, data=form) as resp:
        assert resp.status == 200
    async with http.get(f"{server.url}/orgs/demo/logo") as resp:
        assert resp.status == 200 and await resp.read() == b"\x89PNG fake"
    async with server.ctx.factory() as session:
        org = await session.get(Organization, demo.org.id)
        assert org is not None and (org.location, org.industry, org.brand) == ("Shanghai", "Retail", "Demo")
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "update_profile"))
    assert event is not None and "location" in event.detail["fields"]


async def _apply(http: aiohttp.ClientSession, server: Server, csrf: str, content: bytes = PDF,
                 mime: str = "application/pdf", legal_name: str = "Demo Company Ltd.") -> int:
    form = aiohttp.FormData({"legal_name": legal_name, "address": "1 Main St", "csrf_token": csrf})
    form.add_field("license", io.BytesIO(content), filename="license.pdf", content_type=mime)
    async with http.post(f"{server.url}/workbench/organization/certification", data=form, allow_redirects=False) as resp:
        return resp.status


async def test_certification_application_review_and_badge(server: Server, demo: OrgWithAdmin,
                                                          http: aiohttp.ClientSession) -> None:
    platform = await make_platform_admin(server.ctx.factory)
    csrf = await login(http, server.url, demo.admin.email)
    too_big = b"%PDF" + b"0" * server.ctx.settings.orgs.license_max_bytes
    assert await _apply(http, server, csrf, mime="application/x-sh") == 415
    assert await _apply(http, server, csrf, content=too_big) == 413
    assert await _apply(http, server, csrf, legal_name=" ") == 400
    async with server.ctx.factory() as session:
        assert not await session.scalar(select(func.count()).select_from(Attachment))  # nothing half-written
    assert await _apply(http, server, csrf) == 303
    assert await _apply(http, server, csrf) == 409  # one open application at a time
    async with http.get(f"{server.url}/workbench/platform") as resp:
        assert resp.status == 403  # an organization's admin is not the platform
    async with server.ctx.factory() as session:
        application = await session.scalar(select(CertificationApplication))
        assert application is not None
        pushes = dict((await session.execute(select(NotificationPush.agent_id, NotificationPush.target_kind))).all())
    assert pushes == {platform.id: "workbench"}  # the platform admin, not the applicant's own admins

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as reviewer:
        await _platform_login(reviewer, server, platform.email)
        async with reviewer.get(f"{server.url}/workbench/notifications", headers={"Accept": "application/json"}) as resp:
            kinds = [n["kind"] for n in (await resp.json())["notifications"]]
        assert kinds == ["certification_submitted"]
        page = f"{server.url}/workbench/platform/certifications/{application.id}"
        async with reviewer.get(page) as resp:
            html = await resp.text()
            assert "Demo Company Ltd." in html
        rcsrf = csrf_from(html)
        async with reviewer.get(f"{page}/license") as resp:
            assert await resp.read() == PDF
        async with reviewer.post(f"{page}/decision", data={"decision": "reject", "reason": "", "csrf_token": rcsrf}) as resp:
            assert resp.status == 400
        async with reviewer.post(f"{page}/decision", data={"decision": "reject", "reason": "License is unreadable",
                                                           "csrf_token": rcsrf}) as resp:
            assert resp.status == 200
    async with http.get(f"{server.url}/workbench/organization") as resp:
        assert "Rejected: License is unreadable" in await resp.text()
    assert await _apply(http, server, csrf) == 303
    async with server.ctx.factory() as session:
        second = await session.scalar(select(CertificationApplication.id).where(CertificationApplication.state == "submitted"))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as reviewer:
        rcsrf = await _platform_login(reviewer, server, platform.email)
        async with reviewer.post(f"{server.url}/workbench/platform/certifications/{second}/decision",
                                 data={"decision": "approve", "csrf_token": rcsrf}) as resp:
            assert resp.status == 200
    visitor = await Visitor(server.url).open()
    try:
        await visitor.say("hello")
        card = await visitor.wait_message(lambda m: m.get("reply_kind") == "brand_card")
    finally:
        await visitor.close()
    assert card["data"]["certified"] is True and "Certified" in card["text"]
    async with server.ctx.factory() as session:
        actions = list(await session.scalars(select(AuditEvent.action).where(AuditEvent.org_id == demo.org.id)))
    assert {"certification_submitted", "view_license", "certification_rejected", "certification_approved"} <= set(actions)


async def _platform_login(http: aiohttp.ClientSession, server: Server, email: str) -> str:
    async with http.get(f"{server.url}/workbench/login") as resp:
        token = csrf_from(await resp.text())
    async with http.post(f"{server.url}/workbench/login", data={"email": email, "password": PASSWORD, "csrf_token": token},
                         allow_redirects=False) as resp:
        assert resp.status == 302 and resp.headers["Location"] == "/workbench/platform"
    async with http.get(f"{server.url}/workbench/platform") as resp:
        assert resp.status == 200
        return csrf_from(await resp.text())


async def test_platform_reads_conversations_only_while_granted_and_is_audited(server: Server, demo: OrgWithAdmin,
                                                                              http: aiohttp.ClientSession) -> None:
    platform = await make_platform_admin(server.ctx.factory)
    visitor = await Visitor(server.url).open()
    conversation_id = (await visitor.say("my private question"))["message"]["conversation_id"]
    await visitor.close()
    url = f"{server.url}/workbench/platform/orgs/{demo.org.id}/conversations/{conversation_id}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as reviewer:
        await _platform_login(reviewer, server, platform.email)
        for path in (url, f"{server.url}/workbench", f"{server.url}/workbench/conversations/{conversation_id}"):
            async with reviewer.get(path, allow_redirects=False) as resp:
                assert resp.status == 403, path
        csrf = await login(http, server.url, demo.admin.email)
        grant = f"{server.url}/workbench/organization/platform-access"
        async with http.post(grant, data={"reason": "support ticket 42", "csrf_token": csrf}) as resp:
            assert resp.status == 200
        async with reviewer.get(url) as resp:
            assert resp.status == 200 and "my private question" in await resp.text()
        async with http.post(grant, data={"revoke": "1", "csrf_token": csrf}) as resp:
            assert resp.status == 200
        async with reviewer.get(url) as resp:
            assert resp.status == 403
    async with server.ctx.factory() as session:
        actions = list(await session.scalars(select(AuditEvent.action).where(AuditEvent.org_id == demo.org.id)))
    assert actions.count("platform_view_conversation") == 1
    assert {"grant_platform_access", "revoke_platform_access"} <= set(actions)


async def test_a_switched_off_channel_tells_the_customer_at_once(server: Server, demo: OrgWithAdmin,
                                                                  http: aiohttp.ClientSession) -> None:
    csrf = await login(http, server.url, demo.admin.email)
    keep = ["channel:telegram", "channel:slack", "work_orders", "apps"]
    async with http.post(f"{server.url}/workbench/organization/settings",
                         data=[("csrf_token", csrf), *[("services", k) for k in keep]]) as resp:
        assert resp.status == 200
        assert re.search(r'value="channel:webchat"\s*>', await resp.text())  # shown unchecked
    visitor = await Visitor(server.url).open()
    try:
        await visitor.say("hello?")
        notice = await visitor.wait_message(lambda m: m["author"] == "bot")
    finally:
        await visitor.close()
    assert "turned off" in notice["text"]
    async with server.ctx.factory() as session:
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "update_settings"))
    assert event is not None and event.detail["changes"]["channel:webchat"] is False


async def test_concurrent_sign_ups_of_one_name_admit_exactly_one(server: Server, demo: OrgWithAdmin) -> None:
    """The name check in code alone let two concurrent sign-ups on PostgreSQL both pass; the UNIQUE name_key
    refuses the losers with the same 409 as a sequential duplicate, never a 500."""
    names = ["Race Co", "RACE CO", "race co", "Race  Co", "rAcE cO", "ＲＡＣＥ Co"]  # one name (case, spaces, full width)

    async def one(n: int, name: str) -> int:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            resp = await _signup(http, server, org_name=name, name="Ada", email=f"ada{n}@race.example.com", password=PASSWORD)
            body = await resp.text()
            assert resp.status != 409 or "an organization with this name exists" in body
            return resp.status

    statuses = sorted(await asyncio.gather(*(one(n, name) for n, name in enumerate(names))))
    assert statuses == [303] + [409] * (len(names) - 1)
    async with server.ctx.factory() as session:
        keys = list(await session.scalars(select(Organization.name_key).where(Organization.id != demo.org.id)))
    assert keys == ["race co"]
