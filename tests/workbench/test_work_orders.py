"""Workbench work orders: created from a conversation, bad input refused with 4xx, tenant scope, filters, inbox clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import select

from bot.core.common import clock
from bot.core.orgs.models import AuditEvent
from tests.conftest import start_server
from tests.utils.factories import login, make_org
from tests.utils.work_orders import make_customer, sla_settings

T0 = datetime(2026, 3, 2, 9, 0)


async def test_create_from_conversation_filters_and_refusals(db_url: str, tmp_path: Path, http: aiohttp.ClientSession) -> None:
    clock.set_clock(lambda: T0)
    server = await start_server(sla_settings(db_url, tmp_path / "data"))
    try:
        demo = await make_org(server.ctx.factory)
        other = await make_org(server.ctx.factory, slug="other", name="Other Co")
        _, conversation = await make_customer(server.ctx.factory, demo.org.id)
        _, foreign = await make_customer(server.ctx.factory, other.org.id, external_id="x1")
        csrf = await login(http, server.url, demo.admin.email)
        base = f"{server.url}/workbench"

        async def post(path: str, **data: str) -> tuple[int, str]:
            async with http.post(base + path, data={"csrf_token": csrf, **data}, allow_redirects=False) as resp:
                return resp.status, await resp.text()

        create = f"/conversations/{conversation.id}/work-orders"
        assert (await post(create, category="billing", description="  "))[0] == 400
        status, body = await post(create, category="spaceships", description="x")
        assert status == 400 and "category" in body and "billing" in body
        assert (await post(create, category="billing", description="x", priority="asap"))[0] == 400
        assert (await post(f"/conversations/{foreign.id}/work-orders", category="billing", description="x"))[0] == 404
        status, _ = await post(create, category="billing", description="Refund order 77", priority="urgent")
        assert status == 303
        assert (await post(create, category="account", description="Change email", priority="low"))[0] == 303

        async with http.get(f"{base}/conversations/{conversation.id}") as resp:
            page = await resp.text()
        assert "WO-000001" in page and "WO-000002" in page and "Create work order" in page
        async with http.get(f"{base}/work-orders") as resp:
            listing = await resp.text()
        assert listing.index("WO-000001") < listing.index("WO-000002")  # urgent is due first
        async with http.get(f"{base}/work-orders?priority=low") as resp:
            assert "WO-000002" in (text := await resp.text()) and "WO-000001" not in text
        async with http.get(f"{base}/work-orders?category=billing&unassigned=1") as resp:
            assert "WO-000001" in (text := await resp.text()) and "WO-000002" not in text
        assert (await post("/work-orders/1/assign", assignee_id=str(demo.admin.id)))[0] == 303
        async with http.get(f"{base}/work-orders?mine=1") as resp:
            assert "WO-000001" in (text := await resp.text()) and "WO-000002" not in text

        clock.set_clock(lambda: T0 + timedelta(minutes=200))  # urgent: 240 min target, at risk after 192
        async with http.get(f"{base}/work-orders?at_risk=1") as resp:
            assert "WO-000001" in (text := await resp.text()) and "WO-000002" not in text
        clock.set_clock(lambda: T0 + timedelta(minutes=241))
        async with http.get(f"{base}/work-orders?breached=1") as resp:
            assert "WO-000001" in (text := await resp.text()) and "WO-000002" not in text

        for path, expected in (
            ("/work-orders?status=lost", 400), ("/work-orders?page=x", 400), ("/work-orders?priority=asap", 400),
            ("/work-orders/999", 404), ("/work-orders/WO-abc", 404), ("/reports?weeks=0", 400), ("/reports?weeks=x", 400),
        ):
            async with http.get(base + path) as resp:
                assert resp.status == expected, path
        assert (await post("/work-orders/1/priority", priority="asap"))[0] == 400
        assert (await post("/work-orders/1/note", text=" "))[0] == 400
        assert (await post("/work-orders/1/assign", assignee_id="abc"))[0] == 400
        assert (await post("/work-orders/1/assign", assignee_id="99999999999999999999999"))[0] == 404
        assert (await post("/conversations/99999999999999999999999/work-orders", category="billing", description="x"))[0] == 404
        assert (await post("/work-orders/1/explode"))[0] == 404
        assert (await post("/work-orders/1/status", status="lost"))[0] == 400
        assert (await post("/work-orders/1/note", text="Refund approved by finance"))[0] == 303
        async with http.get(f"{base}/work-orders/1") as resp:
            assert "internal note: <span class=\"text\">Refund approved by finance" in await resp.text()

        # Another organization's agent cannot see or change this organization's work order number 1.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as stranger:
            other_csrf = await login(stranger, server.url, other.admin.email)
            async with stranger.get(f"{base}/work-orders/1") as resp:
                assert resp.status == 404
            async with stranger.post(f"{base}/work-orders/1/status", data={"status": "resolved", "csrf_token": other_csrf}) as resp:
                assert resp.status == 404
            async with stranger.get(f"{base}/work-orders") as resp:
                assert "WO-000001" not in await resp.text()

        async with server.ctx.factory() as session:
            actions = set(await session.scalars(select(AuditEvent.action).where(AuditEvent.org_id == demo.org.id)))
        assert {"view_work_orders", "view_work_order", "work_order_created", "work_order_assign", "work_order_note"} <= actions
    finally:
        await server.stop()
