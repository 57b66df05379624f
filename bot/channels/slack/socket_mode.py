"""Socket Mode: Slack pushes events over a websocket the app opens, for setups without a public URL.

The SDK's client is built when the app starts, not in setup(): its constructor opens an aiohttp
session and starts a task, which need the running loop (`incs run` builds the app before the loop
exists). Connecting runs in the background, so the workbench starts even while Slack is
unreachable; the SDK keeps retrying, and reconnects on its own when Slack asks (`disconnect`).
Each envelope is acked only after its event is committed (Bolt's process_before_response).
On stop, envelopes still arriving are left unacked (Slack delivers them again), those in flight
finish and are acked, then the socket closes and the SDK's tasks are awaited: none outlives the app.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.request import SocketModeRequest

log = logging.getLogger(__name__)
GRACE_SECONDS = 5.0  # how long stop() waits for envelopes in flight before cancelling them


class SocketMode:
    def __init__(self, bolt: AsyncApp, app_token: str) -> None:
        self.bolt = bolt
        self._app_token = app_token
        self._handler: AsyncSocketModeHandler | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._stopping = False

    async def start(self) -> None:
        self._stopping = False
        handler = AsyncSocketModeHandler(self.bolt, self._app_token)
        # Our listener instead of the handler's own, so envelopes in flight are known at stop.
        handler.client.socket_mode_request_listeners[:] = [self._handle]
        self._handler = handler
        self._connecting = asyncio.create_task(self._connect(handler), name="slack-socket-connect")

    async def _connect(self, handler: AsyncSocketModeHandler) -> None:
        await handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("slack: socket mode connected")

    async def _handle(self, client: Any, request: SocketModeRequest) -> None:
        handler = self._handler
        if self._stopping or handler is None:
            return  # not acked: Slack sends it again, to the next connection
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await handler.handle(client, request)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def stop(self) -> None:
        self._stopping = True
        handler, self._handler = self._handler, None
        if handler is None:
            return
        if self._in_flight:
            _done, pending = await asyncio.wait(set(self._in_flight), timeout=GRACE_SECONDS)
            for task in pending:
                log.warning("slack: an event was still being processed at shutdown; Slack will deliver it again")
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
        client = handler.client
        await handler.close_async()  # type: ignore[no-untyped-call]
        # close() only cancels the SDK's reader, monitor and queue tasks; wait for them to end.
        sdk_tasks = [f for f in (client.message_processor, client.current_session_monitor, client.message_receiver) if f is not None]
        for future in sdk_tasks:
            future.cancel()
        await asyncio.gather(*sdk_tasks, return_exceptions=True)
