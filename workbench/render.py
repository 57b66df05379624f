"""Workbench pages: the shared per-locale renderer (bot/pages.py) with the CSRF token, the signed-in agent,
the optional pages' links and the message delivery states (their words for the page's script) in every template."""

from __future__ import annotations

from typing import Any
from weakref import ReferenceType, ref

from aiohttp import web

from bot.core.conversations.models import DELIVERY_STATES
from bot.core.orgs.permissions import Permission, may
from bot.pages import render_page

_PATHS: dict[int, tuple[ReferenceType[web.UrlDispatcher], frozenset[str]]] = {}


def _has_route(request: web.Request, path: str) -> bool:
    """Read once per application: the router is frozen once the app runs, and the menu asks on every page."""
    router = request.app.router
    known = _PATHS.get(id(router))
    if known is None or known[0]() is not router:  # (an id is reused only after its router is gone)
        paths = frozenset(str(getattr(r, "canonical", "")) for r in router.resources())
        if not router.frozen:
            return path in paths
        known = _PATHS[id(router)] = (ref(router), paths)
    return path in known[1]


def render(request: web.Request, template: str, http_status: int = 200, **context: Any) -> web.Response:
    from workbench.auth import AGENT, CSRF

    context.setdefault("agent", request.get(AGENT))
    context.setdefault("csrf_token", request.get(CSRF, ""))
    context.setdefault("delivery_states", DELIVERY_STATES)  # base.html: their words for workbench.js
    context.setdefault("has_telegram", _has_route(request, "/workbench/telegram"))
    context.setdefault("has", lambda path: _has_route(request, path))
    signed_in = context["agent"]
    context.setdefault("can", lambda permission: signed_in is not None and may(signed_in.role, Permission(permission)))
    return render_page(request, template, http_status=http_status, **context)


def render_error(request: web.Request, status: int, message: str) -> web.Response:
    return render(request, "workbench/error.html", http_status=status, status_code=status, message=message)
