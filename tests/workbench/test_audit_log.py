"""The audit log viewer: admins only, filters by actor, customer, action and time, CSV export of the
same rows; status changes, replies, notes and setting changes are audited; reading the log is audited; an event's
detail shows as its keys and values in the page's language (the CSV keeps the JSON)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import aiohttp
from sqlalchemy import select

from bot.core.common import clock
from bot.core.conversations.models import Conversation
from bot.core.orgs.agents import create_agent
from bot.core.orgs.audit import record, verify_chain
from bot.core.orgs.models import AuditEvent
from bot.core.storage.db import transaction
from tests.conftest import Server
from tests.utils.factories import PASSWORD, OrgWithAdmin, login, make_org
from tests.utils.webchat import Visitor


async def _rows(http: aiohttp.ClientSession, server: Server, **query: str) -> list[dict[str, str]]:
    async with http.get(f"{server.url}/workbench/audit.csv", params=query) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
        return list(csv.DictReader(io.StringIO(await resp.text())))


async def test_actions_are_audited_and_the_viewer_filters_and_exports(server: Server, demo: OrgWithAdmin,
                                                                      http: aiohttp.ClientSession) -> None:
    visitor = await Visitor(server.url).open()
    conversation_id = (await visitor.say("hello"))["message"]["conversation_id"]
    await visitor.close()
    async with server.ctx.factory() as session:
        customer_id = await session.scalar(select(Conversation.customer_id).where(Conversation.id == conversation_id))
    async with transaction(server.ctx.factory) as session:
        helper = await create_agent(session=session, org_id=demo.org.id, email="helper@demo.example.com", password=PASSWORD)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as agent_http:
        csrf = await login(agent_http, server.url, helper.email)
        base = f"{server.url}/workbench/conversations/{conversation_id}"
        for action, data in (("reply", {"text": "hi"}), ("note", {"text": "vip"}), ("status", {"status": "resolved"})):
            async with agent_http.post(f"{base}/{action}", data={**data, "csrf_token": csrf}) as resp:
                assert resp.status == 200, action
        async with agent_http.get(f"{server.url}/workbench/audit") as resp:
            assert resp.status == 403  # agents do not read the audit log
    csrf = await login(http, server.url, demo.admin.email)
    async with http.post(f"{server.url}/workbench/organization/settings",
                         data={"services": "channel:webchat", "csrf_token": csrf}) as resp:
        assert resp.status == 200
    async with http.get(f"{server.url}/workbench/audit", params={"actor": str(helper.id)}) as resp:
        html = await resp.text()
    for action in ("reply", "note", "set_status", "login"):
        assert f'data-action="{action}"' in html
    assert 'data-action="update_settings"' not in html  # the admin did that, not the helper
    rows = await _rows(http, server, customer=str(customer_id))
    assert {r["action"] for r in rows} >= {"reply", "note", "set_status"}
    assert all(r["subject_id"] == str(customer_id) for r in rows)
    status = await _rows(http, server, action="set_status")
    assert len(status) == 1 and '"after": "resolved"' in status[0]["detail"] and status[0]["actor"] == helper.name
    settings = await _rows(http, server, action="update_settings")
    assert len(settings) == 1 and "channel:telegram" in settings[0]["detail"]
    tomorrow = (clock.now() + timedelta(days=1)).strftime("%Y-%m-%d")
    assert await _rows(http, server, since=tomorrow) == []
    assert len(await _rows(http, server, until=tomorrow)) >= 5
    async with http.get(f"{server.url}/workbench/audit", params={"since": "yesterday"}) as resp:
        assert resp.status == 400 and "since" in await resp.text()
    async with http.get(f"{server.url}/workbench/audit", params={"customer": "x"}) as resp:
        assert resp.status == 400
    async with server.ctx.factory() as session:
        viewed = set(await session.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == demo.admin.id)))
        assert {"view_audit_log", "export_audit_log"} <= viewed
        assert (await verify_chain(session=session, org_id=demo.org.id)).ok


async def test_the_viewer_shows_only_the_own_organizations_events(server: Server, demo: OrgWithAdmin,
                                                                 http: aiohttp.ClientSession) -> None:
    rival = await make_org(server.ctx.factory, slug="rival", name="Rival Corp")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        await login(other, server.url, rival.admin.email)
    await login(http, server.url, demo.admin.email)
    rows = await _rows(http, server)
    assert rows and all(r["actor_id"] in ("", str(demo.admin.id)) for r in rows)


async def test_the_detail_shows_as_keys_and_values_in_the_page_language(server: Server, demo: OrgWithAdmin,
                                                                        http: aiohttp.ClientSession) -> None:
    async with transaction(server.ctx.factory) as session:
        await record(session=session, org_id=demo.org.id, actor_type="agent", actor_id=demo.admin.id, action="edit_customer",
                     subject_type="customer", subject_id=7,
                     detail={"ip": "203.0.113.9", "fields": ["name", "phone"], "totp": True, "assignee_id": None,
                             "changes": {"note": "<b>vip</b>"}})
        await record(session=session, org_id=demo.org.id, actor_type="agent", actor_id=demo.admin.id, action="view_license")
    await login(http, server.url, demo.admin.email)

    async def events(headers: dict[str, str] | None = None) -> str:
        async with http.get(f"{server.url}/workbench/audit", headers=headers or {}) as resp:
            assert resp.status == 200
            html = await resp.text()
        return html[html.index("<tbody>"):html.index("</tbody>")]

    english, chinese = await events(), await events({"Accept-Language": "zh-CN,zh;q=0.9"})
    for html, shown in ((english, ("IP address", "fields", "two-factor code", "yes", "assignee ID", "changes")),
                        (chinese, ("IP 地址", "字段", "两步验证码", "是", "处理人 ID", "变更"))):
        row = html[html.index('data-action="edit_customer"'):]
        row = row[:row.index("</tr>")]
        ip, fields, totp, yes, assignee, changes = shown
        assert (f'<dl class="audit-detail"><div><dt>{ip}</dt><dd>203.0.113.9</dd></div><div><dt>{fields}</dt><dd>name, phone</dd></div>'
                f'<div><dt>{totp}</dt><dd>{yes}</dd></div><div><dt>{assignee}</dt><dd>—</dd></div>'
                f'<div><dt>{changes}</dt><dd><code>{{"note": "\\u003cb\\u003evip\\u003c/b\\u003e"}}</code></dd></div></dl>') in row, row
        assert '{"ip":' not in html and "<b>vip" not in html  # not the raw JSON; the values stay escaped
        empty = html[html.index('data-action="view_license"'):]
        assert empty[:empty.index("</tr>")].endswith("<td></td>")  # no detail: nothing
    rows = await _rows(http, server, action="edit_customer")  # the CSV keeps the JSON
    assert len(rows) == 1 and '"ip": "203.0.113.9"' in rows[0]["detail"] and '"fields": ["name", "phone"]' in rows[0]["detail"]
