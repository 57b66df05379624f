"""Slack request bodies checked before Bolt sees them: UTF-8, a JSON object or form, expected field types.

Guarantees: `checked_body` returns the decoded text only when Bolt can parse it into a dict whose
fields our handlers read have the types Slack documents (strings, objects, lists of objects); any
other body raises InvalidInput, which the route answers with a 400 and one log line. It runs only
after the signature check, so an unsigned flood costs no parsing. `checked_payload` is the same
shape check for a body already parsed (a Socket Mode envelope's payload).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import parse_qsl

from bot.core.common.errors import InvalidInput
from bot.core.security.payloads import check_clean, parse_json

_STR = ("type", "team_id", "event_id", "api_app_id", "token", "challenge", "subtype", "ts",
        "thread_ts", "channel_type", "event_ts", "bot_id", "team", "trigger_id", "command", "user_id", "action_id", "value",
        "action_ts", "block_id", "response_url", "name", "mimetype", "id", "url_private", "url_private_download")
_OBJ = ("event", "message", "previous_message", "container", "state", "view", "authorizations")
_LISTS = ("files", "actions", "blocks")
_OBJ_OR_STR = ("team", "user", "channel", "enterprise", "text")


def signature_ok(secret: str, raw: bytes, timestamp: str, signature: str, *, max_age: float = 300) -> bool:
    """Slack's v0 signature over the raw bytes (slack_sdk's verifier decodes them as UTF-8 first, and
    raises on anything else), refusing timestamps older than five minutes (replays)."""
    if not timestamp.isdigit() or not signature or abs(time.time() - int(timestamp)) > max_age:
        return False
    mac = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"v0={mac}".encode(), signature.encode("utf-8", "replace"))


def checked_body(raw: bytes, content_type: str) -> tuple[str, dict[str, Any]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8") from None
    if not text:
        raise InvalidInput("empty body")
    if content_type == "application/json" or text.startswith("{"):
        body = parse_json(text)
    else:
        params = dict(parse_qsl(text, keep_blank_values=True))
        check_clean(params)
        body = parse_json(params["payload"]) if "payload" in params else params
    return text, checked_payload(body)


def checked_payload(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput("the body is not an object")
    _check_fields(body, depth=0)
    return body


def _check_fields(node: dict[str, Any], depth: int) -> None:
    if depth > 4:
        return
    for key, value in node.items():
        if value is None:
            continue
        if key in _OBJ_OR_STR:
            if isinstance(value, dict):
                _check_fields(value, depth + 1)
            elif not isinstance(value, str):
                raise InvalidInput(f"{key}: not a string or object")
        elif key in _STR and not isinstance(value, str):
            raise InvalidInput(f"{key}: not a string")
        elif key == "authorizations":
            _check_list(key, value, depth)
        elif key in _OBJ:
            if not isinstance(value, dict):
                raise InvalidInput(f"{key}: not an object")
            _check_fields(value, depth + 1)
        elif key in _LISTS:
            _check_list(key, value, depth)


def _check_list(key: str, value: Any, depth: int) -> None:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise InvalidInput(f"{key}: not a list of objects")
    for item in value:
        _check_fields(item, depth + 1)
