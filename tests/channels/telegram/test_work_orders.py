"""Telegram journey: /ticket from the command menu, category button, description; the agent resolves it in the
workbench; the customer is told on Telegram and rates it with a button; the report shows it."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.conftest import Server
from tests.fakes.telegram_api import Call, FakeTelegram
from tests.utils.factories import OrgWithAdmin, login

CHAT = 5151


def press(fake: FakeTelegram, call: Call, data: str) -> None:
    fake.push({"callback_query": {
        "id": f"cb-{data}", "from": {"id": CHAT, "is_bot": False, "first_name": "Ann"}, "chat_instance": "x", "data": data,
        "message": {**call.result, "reply_markup": call.params["reply_markup"]},
    }})


def has_button(call: Call, data: str) -> bool:
    markup: dict[str, Any] = call.params.get("reply_markup") or {}
    return any(b.get("callback_data") == data for row in markup.get("inline_keyboard", []) for b in row)


async def test_ticket_on_telegram(tg: Server, demo_tg: OrgWithAdmin, fake: FakeTelegram) -> None:
    await fake.wait_for(lambda c: c.method == "setMyCommands" and any(x["command"] == "ticket" for x in c.params["commands"]))
    fake.push(fake.message(CHAT, "/ticket"))
    menu = await fake.wait_for(lambda c: c.chat == str(CHAT) and has_button(c, "ticket:cat:delivery"))
    press(fake, menu[0], "ticket:cat:delivery")
    await fake.wait_for(lambda c: c.chat == str(CHAT) and "describe the problem" in str(c.params.get("text")))
    fake.push(fake.message(CHAT, "The box was crushed"))
    await fake.wait_for(lambda c: c.chat == str(CHAT) and "WO-000001 (delivery) is open" in str(c.params.get("text")))

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, tg.url, demo_tg.admin.email)
        reply = {"text": "A new one is on its way", "csrf_token": csrf}
        async with http.post(f"{tg.url}/workbench/work-orders/1/reply", data=reply) as resp:
            assert resp.status == 200
        await fake.wait_for(lambda c: c.chat == str(CHAT) and "WO-000001: A new one is on its way" in str(c.params.get("text")))
        async with http.post(f"{tg.url}/workbench/work-orders/1/status", data={"status": "resolved", "csrf_token": csrf}) as resp:
            assert resp.status == 200
        ask = await fake.wait_for(lambda c: c.chat == str(CHAT) and has_button(c, "csat:work_order:1:5"))
        press(fake, ask[0], "csat:work_order:1:5")
        await fake.wait_for(lambda c: c.chat == str(CHAT) and "Thank you for your rating (5/5)" in str(c.params.get("text")))
        async with http.get(f"{tg.url}/workbench/reports") as resp:
            report = await resp.text()
    assert 'id="csat-average">5.0<' in report and "resolved work orders: <strong>1</strong>" in report
