"""Driving the privacy menu over web chat and acting on the request in the workbench, as people do."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from tests.conftest import Server
from tests.fakes.smtp import SmtpSink
from tests.flows.helpers import bot_says, code_from_email
from tests.utils.factories import login
from tests.utils.webchat import Visitor

NUMBER = re.compile(r"RR-\d{6}")


async def press(visitor: Visitor, payload: str) -> None:
    ack = await visitor.send({"type": "button", "payload": payload, "label": payload})
    assert ack["type"] == "ack", ack


async def ask(visitor: Visitor, sink: SmtpSink, email: str, kind: str, *, ground: str = "", text: str = "",
              codes_so_far: int = 0, stale: bool = False) -> str:
    """privacy -> type (-> ground / text) -> identity check when not fresh -> Continue -> number and due date."""
    await visitor.say("privacy")
    await bot_says(visitor, "Your privacy rights")
    await press(visitor, f"privacy:{kind}")
    if kind == "authorization":  # the apps list first; "Other" for what the toggles do not cover
        await bot_says(visitor, "Third-party apps")
        await press(visitor, "privacy:authorization:other")
    if ground:
        await bot_says(visitor, "On which ground")
        await press(visitor, f"privacy:delete:{ground}")
    if text:
        await bot_says(visitor, "")
        await visitor.say(text)
    if codes_so_far == 0 or stale:
        await bot_says(visitor, "need to confirm who you are")
        await visitor.say(email)
        code = await code_from_email(sink, email, count=codes_so_far + 1)
        await visitor.say(code)
        done = await bot_says(visitor, "identity is confirmed")
        assert ["Continue", "privacy:go"] in [list(b) for b in done["buttons"]], done
        await press(visitor, "privacy:go")
    registered = await bot_says(visitor, "is registered")
    match = NUMBER.search(registered["text"])
    assert match and "We will answer by 20" in registered["text"], registered
    return match.group(0)


class Agent:
    def __init__(self, server: Server, email: str) -> None:
        self.server = server
        self.email = email
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def __aenter__(self) -> Agent:
        self.csrf = await login(self.http, self.server.url, self.email)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.http.close()

    async def request_id(self, number: str) -> int:
        async with self.http.get(f"{self.server.url}/workbench/rights", params={"status": "all"}) as resp:
            page = await resp.text()
        match = re.search(rf'href="/workbench/rights/(\d+)">{number}<', page)
        assert match, page
        return int(match.group(1))

    async def act(self, request_id: int, action: str, **fields: str) -> tuple[int, dict[str, Any]]:
        async with self.http.post(f"{self.server.url}/workbench/rights/{request_id}/action",
                                  data={"action": action, "csrf_token": self.csrf, **fields},
                                  headers={"Accept": "application/json"}) as resp:
            return resp.status, await resp.json()

    async def page(self, request_id: int) -> tuple[int, str]:
        async with self.http.get(f"{self.server.url}/workbench/rights/{request_id}") as resp:
            return resp.status, await resp.text()
