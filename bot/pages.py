"""Server-rendered pages shared by the web chat and the workbench: one Jinja2 environment per locale
(autoescape on, the i18n extension bound to that locale's catalogue), readable times, and one styled error
page per audience (customers under /chat, agents under /workbench); JSON only for JSON clients.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from aiohttp import web
from babel.support import NullTranslations
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from bot.i18n import LOCALES, negotiate, translations
from bot.paths import TEMPLATES

LOCALE = web.RequestKey("incs_locale", str)


def iso(value: datetime | str | None) -> str:
    """Machine time for `<time datetime>`: ISO 8601 in UTC with a Z."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value.isoformat(timespec="seconds") + "Z"


def readable(value: datetime | str | None) -> str:
    """Fallback text before the page's script localizes it: `2026-11-30 01:29 UTC`."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.rstrip("Z"))
    return value.strftime("%Y-%m-%d %H:%M UTC")


def time_tag(value: datetime | str | None, css: str = "") -> Markup:
    """A `<time>` the page's script shows relative ("3 min ago") in the viewer's timezone, exact time on hover."""
    if value is None:
        return Markup("")
    cls = Markup(' class="{}"').format(css) if css else Markup("")
    return Markup('<time datetime="{}" title="{}"{}>{}</time>').format(iso(value), readable(value), cls, readable(value))


def code_filter(catalogue: NullTranslations) -> Callable[[object, str], str]:
    """`{{ order.status|code("work order status") }}`: a stored code (a status, a kind, an audit action) in the page's
    language, `pgettext(context, code)`; a code the catalogue does not translate shows with its underscores as
    spaces ("in_progress": "in progress"), never as an error. workbench/codes.py lists the codes of each context."""

    def code(value: object, context: str) -> str:
        if value is None:
            return ""
        text = str(value)
        shown = str(catalogue.pgettext(context, text)) if text else text
        return text.replace("_", " ") if shown == text else shown

    return code


@lru_cache(maxsize=len(LOCALES))
def environment(locale: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["iso"] = iso
    env.filters["code"] = code_filter(translations(locale))
    env.filters["readable"] = readable
    env.filters["time"] = time_tag
    env.globals["locale"] = locale
    return env


def request_locale(request: web.Request, default: str = "en") -> str:
    """The page language: set by the handler (a customer's own choice), else the browser's preference."""
    chosen = request.get(LOCALE)
    if chosen in LOCALES:
        return str(chosen)
    return negotiate(request.headers.get("Accept-Language", ""), default)


def render_page(request: web.Request, template: str, http_status: int = 200, **context: Any) -> web.Response:
    locale = request_locale(request)
    html = environment(locale).get_template(template).render(request=request, locale=locale, **context)
    return web.Response(text=html, status=http_status, content_type="text/html", charset="utf-8")


def customer_error_page(request: web.Request, status: int, message: str) -> web.Response:
    """The customers' styled error page (the workbench has its own, with the agent's navigation)."""
    return render_page(request, "webchat/error.html", http_status=status, status_code=status, message=message)
