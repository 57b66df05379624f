"""The agents' websocket: inbox updates for the organization, thread updates for watched conversations."""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import WSMsgType, web

from bot.core.common.errors import NotFound
from bot.core.conversations.live import Subscription
from bot.core.conversations.threads import get_conversation
from bot.core.orgs.permissions import Permission, member_org_id, require
from bot.core.storage.db import statements_alone
from bot.core.storage.tenancy import org_session
from bot.web import CTX, track_socket
from workbench.auth import AGENT, PERMISSION_ATTR, load_agent


async def agent_socket(request: web.Request) -> web.StreamResponse:
    await load_agent(request)
    ctx = request.app[CTX]
    agent = request[AGENT]
    require(agent.role, Permission.WORKBENCH)
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=16 * 1024)
    await ws.prepare(request)
    track_socket(request, ws)
    subs: list[Subscription] = [ctx.hub.subscribe(f"org:{agent.org_id}")]
    pumps = [asyncio.create_task(_pump(subs[0], ws))]
    try:
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            try:
                data = json.loads(frame.data)
                conversation_id = int(data["conversation_id"]) if data.get("type") == "watch" else None
            except (ValueError, TypeError, KeyError, AttributeError):
                await ws.send_json({"type": "error", "error": "invalid_input", "message": "bad frame"})
                continue
            if conversation_id is None:
                continue
            async with org_session(ctx.factory, agent.org_id) as session, statements_alone(session):  # a read: no BEGIN
                try:
                    await get_conversation(session=session, org_id=member_org_id(agent), conversation_id=conversation_id)
                except NotFound:
                    await ws.send_json({"type": "error", "error": "not_found", "message": "no such conversation"})
                    continue
            sub = ctx.hub.subscribe(f"conv:{conversation_id}")
            subs.append(sub)
            pumps.append(asyncio.create_task(_pump(sub, ws)))
            await ws.send_json({"type": "watching", "conversation_id": conversation_id})
    finally:
        for sub in subs:
            sub.close()
        for pump in pumps:
            pump.cancel()
    return ws


async def _pump(sub: Subscription, ws: web.WebSocketResponse) -> None:
    async for event in sub:
        if ws.closed:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_json(event)


# Checked inside (a websocket is not an agent_page); declared for the role x permission matrix test.
setattr(agent_socket, PERMISSION_ATTR, Permission.WORKBENCH)
