"""Server-rendered pages shared by web chat and workbench: one Jinja2 environment (autoescape on).

It sits below both, so the web chat renders without importing the workbench; the workbench adds the
signed-in agent and CSRF token to its own pages (workbench/render.py).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.paths import TEMPLATES


def _iso(value: Any) -> str:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else ""


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), enable_async=False)
    env.filters["iso"] = _iso
    return env


def render_page(request: web.Request, template: str, http_status: int = 200, **context: Any) -> web.Response:
    html = environment().get_template(template).render(request=request, **context)
    return web.Response(text=html, status=http_status, content_type="text/html", charset="utf-8")
