"""Forms used before sign-in (invitation, password reset, sign-up, second login step): a CSRF token in
an HttpOnly cookie that the form echoes back, as the login form does."""

from __future__ import annotations

import hmac
from typing import Any, TypeAlias

from aiohttp import web
from multidict import MultiDictProxy

from bot.core.common.errors import Forbidden
from workbench.auth import LOGIN_CSRF_COOKIE, new_login_csrf, set_cookie
from workbench.render import render

Form: TypeAlias = MultiDictProxy[str | bytes | bytearray | web.FileField]


def public_page(request: web.Request, template: str, http_status: int = 200, **context: Any) -> web.Response:
    token = new_login_csrf()
    response = render(request, template, http_status=http_status, login_csrf=token, **context)
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


async def public_form(request: web.Request) -> Form:
    form = await request.post()
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    given = str(form.get("csrf_token", ""))
    if not cookie or not hmac.compare_digest(cookie, given):
        raise Forbidden("the form has expired or did not come from this site; reload the page and try again")
    return form


def text(form: Form, key: str, limit: int = 1000) -> str:
    value = form.get(key, "")
    return value.strip()[:limit] if isinstance(value, str) else ""
