"""Socket Mode: Slack pushes events over a websocket the app opens, for setups without a public URL.

The SDK's client is built when the app starts, not in setup(): its constructor opens an aiohttp
session and starts a task, which need the running loop (`incs run` builds the app before the loop
exists). Connecting runs in the background, so the workbench starts even while Slack is
unreachable; the SDK keeps retrying, and reconnects on its own when Slack asks (`disconnect`).
Each envelope is acked only after its event is committed (Bolt's process_before_response).
On stop, envelopes still arriving are left unacked (Slack delivers them again), those in flight
finish and are acked, then the socket closes and the SDK's tasks are awaited: none outlives the app.

Envelopes get the checks the HTTP path gives a signed body (shape.py): a frame that is not JSON, is
nested too deeply or carries lone surrogates, an envelope whose fields are not of Slack's types, or a
payload of an unexpected shape is refused with one log line (no traceback), acked so that Slack does
not send it again (a retry would not fix it, as a 400 on the HTTP path), and never reaches Bolt.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.channels.slack.shape import checked_payload
from bot.core.common.errors import InvalidInput
from bot.core.security.payloads import parse_json

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
        # Our listener instead of the handler's own: it checks each envelope before building the request
        # (the SDK's would fail on a payload that is not an object), and knows the envelopes in flight at stop.
        handler.client.socket_mode_request_listeners[:] = []
        handler.client.message_listeners[:] = [self._on_message]
        _refuse_frames_that_are_not_json(handler.client)
        self._handler = handler
        self._connecting = asyncio.create_task(self._connect(handler), name="slack-socket-connect")

    async def _connect(self, handler: AsyncSocketModeHandler) -> None:
        await handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("slack: socket mode connected")

    async def _on_message(self, client: Any, decoded: dict[str, Any], raw: str | None) -> None:
        """Every frame the SDK read (a disconnect notice never gets here): envelopes are checked, then handled."""
        try:
            envelope = parse_json(raw or "")  # the SDK's json.loads keeps lone surrogates; this refuses them
        except InvalidInput as exc:
            log.warning("slack: socket mode frame refused (%s)", exc.message)
            envelope_id = decoded.get("envelope_id") if isinstance(decoded, dict) else None
            if isinstance(envelope_id, str) and envelope_id.isascii():
                await self._ack(client, envelope_id)  # Slack would only send the same bytes again
            return
        if not isinstance(envelope, dict):
            log.warning("slack: socket mode frame refused (not an object)")
            return
        if "envelope_id" not in envelope:
            return  # hello and other notices: nothing to acknowledge
        try:
            request = _checked_request(envelope)
        except InvalidInput as exc:
            log.warning("slack: socket mode envelope of an unexpected shape refused (%s)", exc.message)
            if isinstance(envelope.get("envelope_id"), str):
                await self._ack(client, envelope["envelope_id"])
            return
        await self._handle(client, request)

    async def _handle(self, client: Any, request: SocketModeRequest) -> None:
        handler = self._handler
        if self._stopping or handler is None:
            return  # not acked: Slack sends it again, to the next connection
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await handler.handle(client, request)
        except (AttributeError, TypeError, KeyError, IndexError) as exc:
            # Bolt's own parsing met a shape the checks let through: refused as on the HTTP path, acked once.
            log.warning("slack: socket mode event of an unexpected shape refused (%s)", type(exc).__name__)
            await self._ack(client, request.envelope_id)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    @staticmethod
    async def _ack(client: Any, envelope_id: str) -> None:
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=envelope_id))

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


def _checked_request(envelope: dict[str, Any]) -> SocketModeRequest:
    """The envelope as the SDK's request, once its fields have Slack's types and its payload the expected shape."""
    kind, envelope_id = envelope.get("type"), envelope.get("envelope_id")
    if not isinstance(kind, str) or not isinstance(envelope_id, str) or not 0 < len(envelope_id) <= 200:
        raise InvalidInput("type and envelope_id must be strings")
    retry_attempt, retry_reason = envelope.get("retry_attempt"), envelope.get("retry_reason")
    if retry_attempt is not None and (isinstance(retry_attempt, bool) or not isinstance(retry_attempt, int)):
        raise InvalidInput("retry_attempt: not a number")
    if retry_reason is not None and not isinstance(retry_reason, str):
        raise InvalidInput("retry_reason: not a string")
    payload = checked_payload(envelope.get("payload"))
    return SocketModeRequest(
        type=kind, envelope_id=envelope_id, payload=payload,
        accepts_response_payload=envelope.get("accepts_response_payload") is True,
        retry_attempt=retry_attempt, retry_reason=retry_reason,
    )


def _refuse_frames_that_are_not_json(client: Any) -> None:
    """The SDK decodes each frame that starts with "{" before any listener sees it, and logs a traceback when
    that fails (broken JSON, nesting deep enough to exhaust the recursion limit): one line instead."""
    decode = client.process_message

    async def process_message() -> None:
        try:
            await decode()
        except (ValueError, RecursionError):
            log.warning("slack: socket mode frame refused (not JSON)")

    client.process_message = process_message
