"""Outbox payload -> Telegram HTML text parts and an inline keyboard. User text is always escaped."""

from __future__ import annotations

import html
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_BYTES = 64


def to_html(payload: dict[str, Any]) -> str:
    text = str(payload.get("text") or "")
    if payload.get("kind") == "brand_card":
        head, _, rest = text.partition("\n")
        return f"<b>{html.escape(head)}</b>" + (f"\n{html.escape(rest)}" if rest else "")
    return html.escape(text)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Parts of at most `limit` characters, cut at paragraph, then line, then word boundaries.

    Cuts never fall inside an HTML entity or tag produced by to_html (they only contain no whitespace)."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = window.rfind("\n\n")
        if cut <= 0:
            cut = window.rfind("\n")
        if cut <= 0:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = _safe_hard_cut(window)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    if rest or not parts:
        parts.append(rest)
    return [p for p in parts if p] or [""]


def _safe_hard_cut(window: str) -> int:
    """A cut with no whitespace available: step back out of an entity like &amp; or a tag."""
    cut = len(window)
    amp, lt = window.rfind("&", max(0, cut - 8)), window.rfind("<", max(0, cut - 8))
    if amp > max(window.rfind(";", amp), -1) and amp > 0:
        cut = amp
    if lt > window.rfind(">", lt) and lt > 0:
        cut = min(cut, lt)
    return cut


def keyboard(payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    rows = []
    for item in payload.get("buttons") or []:
        label, data = str(item[0]), str(item[1])
        if len(data.encode()) > MAX_CALLBACK_BYTES:  # Telegram refuses longer callback data
            data = data.encode()[:MAX_CALLBACK_BYTES].decode(errors="ignore")
        rows.append([InlineKeyboardButton(text=label[:64] or data, callback_data=data)])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def plain(text_html: str) -> str:
    """The HTML part back as plain text, for a resend after "can't parse entities"."""
    return html.unescape(text_html.replace("<b>", "").replace("</b>", ""))
