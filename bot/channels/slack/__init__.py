"""Slack channel on slack-bolt: POST /slack/events (events, interactivity, /support) or Socket Mode.

On when channels.slack.bot_token is set, plus the signing secret (events mode) or the app-level
token (socket mode: no request signing there, so no signing secret needed). Customers' replies go
out through the outbox (`slack`), admin pushes too (`slack-push`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import web

from bot.context import AppContext
from bot.core.common.errors import InvalidInput

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

log = logging.getLogger(__name__)
# slack_bolt and slack_sdk (about 8 MB) are imported by setup() only when Slack is configured.
SLACK: web.AppKey[AsyncApp] = web.AppKey("incs_slack")


def setup(app: web.Application, ctx: AppContext) -> None:
    config = ctx.settings.channels.slack
    if not config.bot_token:
        return
    socket = config.mode == "socket"
    if (socket and not config.app_token) or (not socket and not config.signing_secret):
        log.warning("slack: bot_token is set but %s is missing; Slack stays off", "app_token" if socket else "signing_secret")
        return
    from slack_bolt.async_app import AsyncApp

    from bot.channels.slack.inbound import SlackInbound
    from bot.channels.slack.mirror import AgentsChannelMirror
    from bot.channels.slack.sender import SlackSender, make_client
    from bot.channels.slack.socket_mode import SocketMode

    client = make_client(config.bot_token, config.api_base, config.request_timeout_seconds)
    ctx.services["slack_client"] = client
    bolt = AsyncApp(
        client=client,
        signing_secret=config.signing_secret or None,
        request_verification_enabled=not socket,
        # Ack only after the event is committed: the ingest path is quick (group commit), and
        # everything slow (replies, users.info) runs after the ack.
        process_before_response=True,
        logger=logging.getLogger("slack_bolt"),
    )
    inbound = SlackInbound(ctx, config, config.bot_token)
    if config.agents_channel:
        mirror = AgentsChannelMirror(ctx, config.agents_channel)
        inbound.on_agents_channel = mirror.on_agent_message
        ctx.on_start.append(mirror.start)
        ctx.on_stop.append(mirror.stop)
    inbound.register(bolt)
    ctx.on_stop.append(inbound.drain)
    ctx.dispatcher.add_sender(SlackSender(client, channel="slack", factory=ctx.factory, data_dir=ctx.settings.data_dir))
    ctx.dispatcher.add_sender(SlackSender(client, channel="slack-push"))
    app[SLACK] = bolt
    if socket:
        socket_mode = SocketMode(bolt, config.app_token)
        ctx.on_start.append(socket_mode.start)
        ctx.on_stop.append(socket_mode.stop)  # runs first (stop hooks run in reverse): no new events while draining
    else:
        app.router.add_post("/slack/events", _events_handler(bolt, config.signing_secret))


def _events_handler(bolt: AsyncApp, secret: str):  # type: ignore[no-untyped-def]
    from slack_bolt.adapter.aiohttp import to_aiohttp_response
    from slack_bolt.request.async_request import AsyncBoltRequest

    from bot.channels.slack.shape import checked_body, signature_ok

    async def slack_events(request: web.Request) -> web.Response:
        raw = await request.read()
        # Checked here on the raw bytes before any decoding or parsing, so a forged or replayed request
        # (timestamp older than five minutes) is refused with nothing stored; Bolt checks again on its own.
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not signature_ok(secret, raw, timestamp, signature):
            log.warning("slack: request with a bad or stale signature refused")
            return web.json_response({"error": "invalid signature"}, status=401)
        try:
            body, _parsed = checked_body(raw, request.content_type)
            bolt_request = AsyncBoltRequest(body=body, query=request.query_string, headers=dict(request.headers))
        except (InvalidInput, ValueError) as exc:
            log.warning("slack: malformed request body refused (%s)", getattr(exc, "message", type(exc).__name__))
            return web.json_response({"error": "malformed body"}, status=400)
        retry = request.headers.get("X-Slack-Retry-Num")
        if retry:
            log.info("slack: retry %s (%s) of an event", retry, request.headers.get("X-Slack-Retry-Reason", ""))
        try:
            response = await bolt.async_dispatch(bolt_request)
        except (AttributeError, TypeError, KeyError, IndexError) as exc:
            # Bolt's own parsing met a shape the checks above let through: the sender's fault, and a
            # retry would not fix it, so 400 (Slack does not retry a 4xx) and one line.
            log.warning("slack: request of an unexpected shape refused (%s)", type(exc).__name__)
            return web.json_response({"error": "unexpected shape"}, status=400)
        return await to_aiohttp_response(response)

    return slack_events
