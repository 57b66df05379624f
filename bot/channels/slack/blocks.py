"""Normalized replies -> Slack Block Kit, with text escaped for mrkdwn."""

from __future__ import annotations

from typing import Any

ACTION_PREFIX = "incs_btn_"
SECTION_LIMIT = 3000  # Slack's limit for a section's text
BUTTON_LABEL_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000


def escape_mrkdwn(text: str) -> str:
    """Slack's three control characters; everything else is shown as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def reply_blocks(text: str, buttons: list[list[str]] | None = None, link: str = "") -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in _chunks(escape_mrkdwn(text), SECTION_LIMIT)
        if chunk
    ]
    elements = [
        {
            "type": "button",
            "action_id": f"{ACTION_PREFIX}{index}",
            "text": {"type": "plain_text", "text": label[:BUTTON_LABEL_LIMIT] or "·", "emoji": True},
            "value": payload[:BUTTON_VALUE_LIMIT],
        }
        for index, (label, payload) in enumerate(buttons or [])
    ]
    if link:
        elements.append({"type": "button", "action_id": "incs_open", "text": {"type": "plain_text", "text": "Open"}, "url": link})
    for start in range(0, len(elements), 25):  # at most 25 elements per actions block
        blocks.append({"type": "actions", "elements": elements[start : start + 25]})
    return blocks
