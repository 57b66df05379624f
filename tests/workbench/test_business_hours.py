"""The organization's business hours on its settings page: timezone, own opening hours, holiday country; bad
input refused with a clear 400 (never a 500), a plain agent refused, each change audited."""

from __future__ import annotations

import aiohttp
from sqlalchemy import select

from bot.core.orgs.agents import create_agent
from bot.core.orgs.models import AuditEvent, Organization
from bot.core.storage.db import transaction
from tests.conftest import Server
from tests.utils.factories import PASSWORD, OrgWithAdmin, login

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _form(csrf: str, timezone: str = "", country: str = "", **hours: str) -> dict[str, str]:
    form = {"csrf_token": csrf, "timezone": timezone, "holiday_country": country}
    if hours:
        form["hours_mode"] = "own"
        form.update({f"hours_{day}": hours.get(day, "") for day in DAYS})
    return form


async def test_business_hours_are_validated_audited_and_admin_only(server: Server, demo: OrgWithAdmin,
                                                                   http: aiohttp.ClientSession) -> None:
    url = f"{server.url}/workbench/organization/business-hours"
    csrf = await login(http, server.url, demo.admin.email)

    async def post(form: dict[str, str]) -> tuple[int, str]:
        async with http.post(url, data=form, allow_redirects=False) as resp:
            return resp.status, await resp.text()

    refusals = [
        (_form(csrf, timezone="Mars/Olympus"), "unknown zone"),
        (_form(csrf, mon="18:00-09:00"), "inverted"),
        (_form(csrf, mon="09:00-13:00, 12:00-18:00"), "overlap"),
        (_form(csrf, mon="9 to 5"), "HH:MM-HH:MM"),
        (_form(csrf, sat=""), "open on at least one day"),
        (_form(csrf, country="XX"), "unknown country"),
    ]
    for form, words in refusals:
        status, body = await post(form)
        assert status == 400 and words in body, (form, status)
    status, _ = await post(_form(csrf, timezone="Asia/Shanghai", country="CN", mon="09:00-12:00, 13:00-18:00",
                                 sat="10:00-14:00"))
    assert status == 303
    async with http.get(f"{server.url}/workbench/organization") as resp:
        page = await resp.text()
    assert 'value="Asia/Shanghai"' in page and 'value="09:00-12:00, 13:00-18:00"' in page
    async with server.ctx.factory() as session:
        org = await session.get(Organization, demo.org.id)
        assert org is not None
        assert (org.timezone, org.holiday_country) == ("Asia/Shanghai", "CN")
        assert org.business_hours == {"mon": ["09:00-12:00", "13:00-18:00"], "sat": ["10:00-14:00"]}
        events = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "update_business_hours"))).all()
    assert len(events) == 1 and events[0].detail["timezone"] == "Asia/Shanghai"

    status, _ = await post(_form(csrf, country="none"))  # back to the default hours and zone, no country's holidays
    assert status == 303
    async with server.ctx.factory() as session:
        org = await session.get(Organization, demo.org.id)
        assert org is not None and (org.timezone, org.business_hours, org.holiday_country) == ("", None, "")

    async with transaction(server.ctx.factory) as session:
        await create_agent(session=session, org_id=demo.org.id, email="plain@demo.example.com", password=PASSWORD)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        plain_csrf = await login(other, server.url, "plain@demo.example.com")
        async with other.post(url, data=_form(plain_csrf, timezone="UTC"), allow_redirects=False) as resp:
            assert resp.status == 403
