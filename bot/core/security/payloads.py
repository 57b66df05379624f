"""Untrusted JSON: parsed without recursion blow-ups and refused when it cannot be stored.

Guarantees: `parse_json` either returns a value of bounded nesting whose every string is encodable
as UTF-8 (so no lone surrogate reaches the database or a log line), or raises InvalidInput with a
short message. It never raises RecursionError, UnicodeError or JSONDecodeError.
"""

from __future__ import annotations

import json
from typing import Any

from bot.core.common.errors import InvalidInput

MAX_DEPTH = 32


def parse_json(raw: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    encodable = isinstance(raw, bytes)  # strict UTF-8 decoding never yields a lone surrogate
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("the body is not UTF-8") from None
    depth = _bracket_depth(raw)
    if depth > max_depth:
        raise InvalidInput("the JSON is nested too deeply")
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise InvalidInput("the frame is not JSON") from None
    # Walking the value is needed only when it could fail: json.loads refuses raw control characters in strings,
    # so a lone surrogate or a NUL can only come from a \u escape or from a surrogate already in `raw`, and
    # nesting within MAX_DEPTH passes check_clean's depth check (most bodies: no escape, few brackets).
    if depth > MAX_DEPTH or "\\u" in raw or not (encodable or is_utf8(raw)):
        check_clean(value)
    return value


def is_utf8(text: str) -> bool:
    """Whether UTF-8 can encode `text` (a lone surrogate cannot be)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_clean(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuses strings (keys too) that UTF-8 cannot encode, and nesting deeper than max_depth."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise InvalidInput("the JSON is nested too deeply")
        if isinstance(item, str):
            check_text(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                check_text(str(key))
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def check_text(text: str) -> str:
    if not is_utf8(text):
        raise InvalidInput("the text contains an invalid character (a lone surrogate)")
    if "\x00" in text:
        raise InvalidInput("the text contains a NUL character")
    return text


def _bracket_depth(raw: str) -> int:
    """Deepest [ / { nesting, ignoring brackets inside strings: cheap, and checked before json.loads recurses."""
    if raw.count("[") + raw.count("{") <= MAX_DEPTH:
        return 0  # the common case: too few brackets to matter
    depth = deepest = 0
    in_string = escaped = False
    for char in raw:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
