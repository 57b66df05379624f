"""Service switches enforced (policy 四 1, 二 3): an organization that turns work orders, a rights-request type or
third-party apps off stops them at once. The customer is told politely in the chat (the same flows run on every
channel), and the workbench refuses the action with a 403 that says why, never a 500. Turned on again, they work."""

from __future__ import annotations

import re

import aiohttp
from sqlalchemy import func, select

from bot.core.orgs.profile import SERVICES
from bot.core.rights.models import AppAuthorization, RightsRequest, ThirdPartyApp
from bot.core.work_orders.models import WorkOrder
from tests.conftest import Server
from tests.flows.helpers import bot_says
from tests.rights.journey import press
from tests.utils.factories import OrgWithAdmin, login
from tests.utils.webchat import Visitor

LABEL = re.compile(r"WO-\d{6}")


async def _switch(http: aiohttp.ClientSession, server: Server, csrf: str, *off: str) -> None:
    """The organization settings form, as an admin submits it: every service on except `off`."""
    on = [key for key in SERVICES if key not in off]
    async with http.post(f"{server.url}/workbench/organization/settings",
                         data=[("csrf_token", csrf), *[("services", key) for key in on]]) as resp:
        assert resp.status == 200


async def _refused(http: aiohttp.ClientSession, url: str, data: dict[str, str], what: str) -> None:
    async with http.post(url, data=data, headers={"Accept": "application/json"}, allow_redirects=False) as resp:
        body = await resp.json()
    assert resp.status == 403 and body["error"] == "service_off", body
    assert f"{what} is turned off for this organization" in body["message"]


async def _count(server: Server, model: type) -> int:
    async with server.ctx.factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_work_orders_switched_off_stop_in_chat_and_workbench(server: Server, demo: OrgWithAdmin,
                                                                   http: aiohttp.ClientSession) -> None:
    csrf = await login(http, server.url, demo.admin.email)
    visitor = await Visitor(server.url).open()
    try:
        conversation_id = (await visitor.say("hello"))["message"]["conversation_id"]
        await visitor.say("ticket")
        await bot_says(visitor, "")
        await press(visitor, "ticket:cat:billing")
        await bot_says(visitor, "describe the problem")
        first = LABEL.search(str((await _ticket(visitor, "Refund order 77"))["text"]))
        assert first
        await visitor.say("ticket")  # a second ticket under way when the switch goes off
        await press(visitor, "ticket:cat:billing")
        await bot_says(visitor, "describe the problem")

        await _switch(http, server, csrf, "work_orders")
        await visitor.say("Refund order 78")  # the description of the ticket under way: stopped at once
        await bot_says(visitor, "has turned work orders off")
        for words in ("ticket", "status"):
            await visitor.say(words)
            await bot_says(visitor, "has turned work orders off")
        assert await _count(server, WorkOrder) == 1
        base = f"{server.url}/workbench"
        await _refused(http, f"{base}/conversations/{conversation_id}/work-orders",
                       {"csrf_token": csrf, "category": "billing", "description": "x"}, "Work orders")
        await _refused(http, f"{base}/work-orders/{first.group(0)}/note", {"csrf_token": csrf, "text": "x"}, "Work orders")
        async with http.get(f"{base}/work-orders/{first.group(0)}") as resp:
            assert resp.status == 200  # what exists stays readable
        assert await _count(server, WorkOrder) == 1

        await _switch(http, server, csrf)
        await visitor.say("ticket")
        await press(visitor, "ticket:cat:billing")
        await bot_says(visitor, "describe the problem")
        await _ticket(visitor, "Refund order 79")
    finally:
        await visitor.close()
    assert await _count(server, WorkOrder) == 2


async def _ticket(visitor: Visitor, description: str) -> dict[str, object]:
    await visitor.say(description)
    return await bot_says(visitor, "is open")


async def test_a_rights_request_type_switched_off_is_refused_before_any_identity_check(
        server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession) -> None:
    csrf = await login(http, server.url, demo.admin.email)
    await _switch(http, server, csrf, "rights:export", "rights:delete")
    visitor = await Visitor(server.url).open()
    try:
        conversation_id = (await visitor.say("hello"))["message"]["conversation_id"]
        await visitor.say("privacy")
        menu = await bot_says(visitor, "Your privacy rights")
        offered = {payload for _label, payload in menu["buttons"]}
        assert "privacy:export" not in offered and "privacy:delete" not in offered and "privacy:review" in offered
        await press(visitor, "privacy:export")  # an old menu's button, pressed after the switch
        notice = await bot_says(visitor, "requests in this chat for now")
        assert "Export" in notice["text"] or "export" in notice["text"]
        await press(visitor, "privacy:delete:breach")
        await bot_says(visitor, "requests in this chat for now")
        await press(visitor, "privacy:review")
        await bot_says(visitor, "need to confirm who you are")  # a type still on goes on as before
    finally:
        await visitor.close()
    await _refused(http, f"{server.url}/workbench/conversations/{conversation_id}/rights",
                   {"csrf_token": csrf, "kind": "export"}, "Rights requests: export")
    assert await _count(server, RightsRequest) == 0


async def test_third_party_apps_switched_off_cannot_be_defined_or_authorized(server: Server, demo: OrgWithAdmin,
                                                                            http: aiohttp.ClientSession) -> None:
    csrf = await login(http, server.url, demo.admin.email)
    apps = f"{server.url}/workbench/rights/apps"
    async with http.post(apps, allow_redirects=False, data={"csrf_token": csrf, "name": "CRM Sync", "purpose": "sync",
                                                            "webhook": "https://crm.example.com/hook"}) as resp:
        assert resp.status == 303
    async with server.ctx.factory() as session:
        app_id = await session.scalar(select(ThirdPartyApp.id))
    await _switch(http, server, csrf, "apps")
    await _refused(http, apps, {"csrf_token": csrf, "name": "Ads", "purpose": "ads", "webhook": "https://ads.example.com"},
                   "Third-party apps")
    visitor = await Visitor(server.url).open()
    try:
        await visitor.say("hello")
        await visitor.say("privacy")
        await bot_says(visitor, "Your privacy rights")
        await press(visitor, "privacy:authorization")
        listing = await bot_says(visitor, "has turned third-party apps off")
        assert [payload for _label, payload in listing["buttons"]] == ["privacy:authorization:other"]
        await press(visitor, f"privacy:app:{app_id}:on")  # an old list's toggle
        await bot_says(visitor, "has turned third-party apps off")
    finally:
        await visitor.close()
    assert await _count(server, ThirdPartyApp) == 1 and await _count(server, AppAuthorization) == 0


async def test_switch_notices_are_in_the_customers_language(server: Server, demo: OrgWithAdmin,
                                                            http: aiohttp.ClientSession) -> None:
    csrf = await login(http, server.url, demo.admin.email)
    await _switch(http, server, csrf, "work_orders", "apps", "rights:export")
    visitor = await Visitor(server.url).open()
    try:
        await visitor.say("hello")
        await press(visitor, "lang:zh")
        await visitor.say("工单")
        await _zh(visitor, "关闭工单服务")
        await press(visitor, "privacy:export")
        await _zh(visitor, "请求。如需办理")
        await press(visitor, "privacy:authorization")
        await _zh(visitor, "关闭第三方应用")
    finally:
        await visitor.close()


async def _zh(visitor: Visitor, fragment: str) -> None:
    await bot_says(visitor, fragment)
