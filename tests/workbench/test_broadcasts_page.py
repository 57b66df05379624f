"""Incident, transfer and cessation notices from the workbench: written once, started once, progress shown,
each customer told once on their own channel (no open conversation needed)."""

from __future__ import annotations

import asyncio
import re

import aiohttp
from sqlalchemy import func, select

from bot.core.notices.models import Broadcast
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin, login
from tests.utils.webchat import Visitor


async def test_an_incident_notice_is_one_broadcast_started_once_and_reaches_each_customer(
    server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession
) -> None:
    visitors = [await Visitor(server.url).open() for _ in range(3)]
    for v in visitors:
        await v.say("hi")
    try:
        csrf = await login(http, server.url, demo.admin.email)
        async with http.get(f"{server.url}/workbench/broadcasts") as resp:
            key = re.search(r'name="client_key" value="([^"]+)"', await resp.text())
        assert key
        form = {"kind": "incident", "title": "Security incident", "what": "A laptop was stolen.",
                "impact": "Names and emails of some customers.", "measures": "Sessions revoked.",
                "advice": "Beware of phishing.", "client_key": key.group(1), "csrf_token": csrf}
        for _ in range(2):  # a double-submitted form
            async with http.post(f"{server.url}/workbench/broadcasts", data=form) as resp:
                assert resp.status == 200
        async with http.post(f"{server.url}/workbench/broadcasts", data={**form, "client_key": "x2", "title": ""}) as resp:
            assert resp.status == 400
        async with server.ctx.factory() as session:
            broadcast = await session.scalar(select(Broadcast))
            assert await session.scalar(select(func.count()).select_from(Broadcast)) == 1
        assert broadcast is not None
        start = f"{server.url}/workbench/broadcasts/{broadcast.id}/start"
        async with http.post(start, data={"csrf_token": csrf}) as resp:
            assert resp.status == 200
        async with http.post(start, data={"csrf_token": csrf}) as resp:
            assert resp.status == 409
        for v in visitors:
            notice = await v.wait_message(lambda m: "A laptop was stolen." in m["text"])
            assert "Measures taken: Sessions revoked." in notice["text"] and "Beware of phishing." in notice["text"]
        async with asyncio.timeout(10):
            while True:
                async with http.get(f"{server.url}/workbench/broadcasts") as resp:
                    html = await resp.text()
                if re.search(r'class="state">done</td>\s*<td class="recipients">3</td><td class="sent">3</td>', html):
                    break
                await asyncio.sleep(0.1)
        for v in visitors:
            assert not [e for e in v.events if e.get("type") == "message" and "laptop" in e["message"]["text"]]
        # Written on the Chinese page, the parts' headings are Chinese (the admin writes the parts in that language).
        chinese = {**form, "client_key": "zh-1", "what": "笔记本电脑失窃。"}
        async with http.post(f"{server.url}/workbench/broadcasts", data=chinese, headers={"Accept-Language": "zh-CN"}) as resp:
            assert resp.status == 200
        async with server.ctx.factory() as session:
            body = await session.scalar(select(Broadcast.body).where(Broadcast.id != broadcast.id))
        assert body is not None and body.startswith("发生了什么: 笔记本电脑失窃。") and "已采取的措施: Sessions revoked." in body
    finally:
        for v in visitors:
            await v.close()
