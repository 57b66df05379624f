"""parse_json refuses what cannot be stored, whether it skips walking the value (no escape, few brackets) or not."""

from __future__ import annotations

import pytest

from bot.core.common.errors import InvalidInput
from bot.core.security.payloads import MAX_DEPTH, parse_json

REFUSED = [
    b'{"text": "\\ud800"}',  # an escaped lone surrogate
    b'{"\\udfff": 1}',  # in a key
    b'{"text": "a\\u0000b"}',  # an escaped NUL
    '{"text": "\ud800"}',  # a str that carries a lone surrogate itself
    b'{"text": "a\x00b"}',  # a raw NUL (json.loads refuses control characters)
    b"[" * (MAX_DEPTH + 2) + b"1" + b"]" * (MAX_DEPTH + 2),
]


@pytest.mark.parametrize("raw", REFUSED)
def test_a_body_that_cannot_be_stored_is_refused(raw: str | bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_json(raw)


def test_clean_bodies_parse_with_or_without_escapes() -> None:
    assert parse_json(b'{"update_id": 1, "message": {"text": "hello \\u4f60\\u597d \\ud83d\\ude00", "n": [1, {"a": null}]}}') == {
        "update_id": 1, "message": {"text": "hello 你好 😀", "n": [1, {"a": None}]},
    }
    assert parse_json('{"text": "你好 😀 \\\\u"}') == {"text": "你好 😀 \\u"}
    nested = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_json(nested) is not None
