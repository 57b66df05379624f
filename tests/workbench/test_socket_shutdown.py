"""A workbench socket opened while the server shuts down is closed at once: its handler checks the agent before
the socket is tracked, so one that got past its checks after the open sockets were closed used to stay open, and
the shutdown waited out aiohttp's timeout (60 s) for it."""

from __future__ import annotations

import aiohttp
from aiohttp import WSCloseCode, WSMsgType

from bot.web import shut_sockets
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin, login


async def test_a_socket_opened_after_the_sockets_were_closed_is_closed_at_once(
    server: Server, demo: OrgWithAdmin, http: aiohttp.ClientSession
) -> None:
    await login(http, server.url, demo.admin.email)
    async with http.ws_connect(f"{server.url}/workbench/ws") as before:
        await shut_sockets(server.app)  # what the shutdown does first
        frame = await before.receive(timeout=10)
        assert frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
    async with http.ws_connect(f"{server.url}/workbench/ws") as late:
        frame = await late.receive(timeout=10)
        assert frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
        assert late.close_code == WSCloseCode.GOING_AWAY
