"""Sign in and out."""

from __future__ import annotations

import hmac

from aiohttp import web

from bot.core.common.errors import Unauthorized
from bot.core.orgs.agents import check_login, end_session, login_candidates, start_session
from bot.core.orgs.audit import record
from bot.core.orgs.permissions import Permission
from bot.core.orgs.totp import pending_token
from bot.core.storage.db import transaction
from bot.i18n import gettext
from bot.pages import request_locale
from bot.web import CTX
from workbench.account import home_of
from workbench.auth import (
    LIMITER,
    LOGIN_CSRF_COOKIE,
    PASSWORDS,
    SESSION_COOKIE,
    agent_page,
    agent_transaction,
    new_login_csrf,
    read_form,
    set_cookie,
)
from workbench.public_forms import public_page
from workbench.render import render


async def login_page(request: web.Request, error: str = "", status: int = 200, **values: object) -> web.Response:
    """The sign-in form; `error` is a catalogue key (with %(name)s values), shown in the reader's language."""
    token = new_login_csrf()
    text = gettext(request_locale(request), error) % values if error else ""
    response = render(request, "workbench/login.html", http_status=status, login_csrf=token, error=text)
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


async def login_form(request: web.Request) -> web.Response:
    return await login_page(request)


async def login_submit(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    form = await read_form(request)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    given = str(form.get("csrf_token", ""))
    if not cookie or not hmac.compare_digest(cookie, given):
        return await login_page(request, "The form expired. Please try again.", status=403)
    email = str(form.get("email", "")).strip().lower()[:320]
    password = str(form.get("password", ""))[:1024]
    source = request.remote or "unknown"
    # Counted before the password is checked, atomically: concurrent guesses cannot slip past the limit.
    decision = await request.app[LIMITER].attempt(source=source, account=email)
    if not decision.allowed:
        return await login_page(request, "Too many attempts. Try again in %(minutes)s minutes.", status=429,
                                minutes=int(decision.retry_after // 60) + 1)
    # Read, check, write: no database connection (nor SQLite's writer turn) is held while argon2 runs.
    async with ctx.factory() as session:
        candidates = await login_candidates(session=session, email=email)
    try:
        agent = await check_login(candidates=candidates, password=password, pool=request.app[PASSWORDS])
    except Unauthorized:
        async with transaction(ctx.factory) as session:
            await record(session=session, org_id=None, actor_type="anonymous", actor_id=None, action="login_failed",
                         detail={"ip": source})
        return await login_page(request, "Wrong email or password.", status=401)
    async with transaction(ctx.factory) as session:
        if agent.totp_secret:
            pending = pending_token(agent.id, ctx.settings.secret_key)
        else:
            new = await start_session(session=session, agent=agent, hours=ctx.settings.workbench.session_hours)
            await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="login",
                         detail={"ip": source})
    await request.app[LIMITER].succeeded(source=source, account=email)
    if agent.totp_secret:
        return public_page(request, "workbench/login_totp.html", pending=pending, error="")
    response = web.HTTPFound(home_of(agent.role))
    set_cookie(request, response, SESSION_COOKIE, new.token, max_age=ctx.settings.workbench.session_hours * 3600)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/workbench")
    raise response


@agent_page(permission=Permission.ACCOUNT)
async def logout(request: web.Request) -> web.StreamResponse:
    async with agent_transaction(request) as session:
        await end_session(session=session, token=request.cookies.get(SESSION_COOKIE, ""))
    response = web.HTTPFound("/workbench/login")
    response.del_cookie(SESSION_COOKIE, path="/workbench")
    raise response
