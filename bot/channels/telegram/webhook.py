"""POST /telegram/webhook: secret checked, update processed and committed, then 200.

A storage failure answers 500 so Telegram delivers the update again; junk answers 400 (bad JSON)
or 200 (an update we cannot read, which a retry would not fix) with a log line either way.
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from bot.channels.telegram.keys import TG
from bot.channels.telegram.runtime import MalformedUpdate
from bot.core.common.errors import InvalidInput
from bot.core.security.payloads import parse_json

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name, not a secret


async def telegram_webhook(request: web.Request) -> web.Response:
    channel = request.app[TG]
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), channel.config.webhook_secret.encode()):
        log.warning("telegram webhook: request with a wrong secret token from %s refused", request.remote)
        return web.json_response({"ok": False, "error": "unauthorized"}, status=401)
    body = await request.read()
    try:
        raw = parse_json(body)  # bounded nesting, valid UTF-8, no lone surrogates
    except InvalidInput as exc:
        channel.state.refused(exc.message)
        log.warning("telegram webhook: malformed JSON (%d bytes) refused: %s", len(body), exc.message)
        return web.json_response({"ok": False, "error": "malformed JSON"}, status=400)
    if not isinstance(raw, dict):
        channel.state.refused("not a JSON object")
        log.warning("telegram webhook: update is not a JSON object; refused")
        return web.json_response({"ok": False, "error": "not an update"}, status=400)
    try:
        await channel.process(raw)
    except MalformedUpdate as exc:
        log.warning("telegram webhook: ignored malformed update: %s", exc)
    except Exception:  # noqa: BLE001 - Telegram retries a 5xx, so nothing is lost
        log.exception("telegram webhook: update %s failed; Telegram will retry", raw.get("update_id"))
        return web.json_response({"ok": False}, status=500)
    return web.json_response({"ok": True})
