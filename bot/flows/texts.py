"""Bot texts from templates/bot/<locale>/<name>.txt. Plain text: each channel escapes for its own markup."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.paths import TEMPLATES

LOCALES = ("en", "zh")


@lru_cache(maxsize=1)
def _env() -> Environment:
    # Autoescape off: the output is plain text, escaped later by the channel (HTML, mrkdwn, DOM text).
    return Environment(
        loader=FileSystemLoader(TEMPLATES / "bot"),
        autoescape=False,  # noqa: S701 - plain text, never HTML
        undefined=StrictUndefined,
        keep_trailing_newline=False,
    )


def render_text(name: str, locale: str, **context: Any) -> str:
    locale = locale if locale in LOCALES else "en"
    return _env().get_template(f"{locale}/{name}.txt").render(**context).strip()
