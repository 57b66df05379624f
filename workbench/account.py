"""One's own account: password change, two-factor set-up; password reset by email; the second login step."""

from __future__ import annotations

from aiohttp import web

from bot.core.common.errors import Unauthorized
from bot.core.delivery.outbox import enqueue
from bot.core.orgs import totp
from bot.core.orgs.agents import start_session
from bot.core.orgs.audit import record
from bot.core.orgs.organizations import get_organization
from bot.core.orgs.passwords import open_reset, perform_reset, request_reset
from bot.core.orgs.permissions import Permission
from bot.core.orgs.team import change_password
from bot.core.storage.db import transaction
from bot.i18n import error_text, gettext
from bot.pages import request_locale
from bot.web import CTX
from workbench.auth import (
    AGENT,
    LOGIN_CSRF_COOKIE,
    PASSWORDS,
    SESSION_COOKIE,
    TOTP_LIMITER,
    agent_page,
    agent_transaction,
    set_cookie,
)
from workbench.public_forms import public_form, public_page, text
from workbench.render import render


async def _account(request: web.Request, message: str = "", status: int = 200) -> web.Response:
    agent = request[AGENT]
    secret = "" if agent.totp_secret else totp.new_secret()
    required = False
    if agent.org_id is not None:
        async with request.app[CTX].factory() as session:
            required = totp.required_for(agent, await get_organization(session=session, org_id=agent.org_id))
    return render(request, "workbench/account.html", http_status=status, message=message, new_secret=secret,
                  uri=totp.provisioning_uri(secret, agent.email) if secret else "", totp_required=required)


@agent_page(permission=Permission.ACCOUNT)
async def account_page(request: web.Request) -> web.Response:
    return await _account(request)


@agent_page(permission=Permission.ACCOUNT)
async def password_view(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    form = await request.post()
    agent = request[AGENT]
    async with agent_transaction(request) as session:
        await change_password(session=session, agent=agent, current=str(form.get("current", ""))[:1024],
                              new=str(form.get("new", ""))[:1024], pool=request.app[PASSWORDS])
        new = await start_session(session=session, agent=agent, hours=ctx.settings.workbench.session_hours)
    response = web.HTTPSeeOther("/workbench/account?changed=1")
    set_cookie(request, response, SESSION_COOKIE, new.token, max_age=ctx.settings.workbench.session_hours * 3600)
    raise response


@agent_page(permission=Permission.ACCOUNT)
async def totp_enable_view(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    async with agent_transaction(request) as session:
        await totp.enable(session=session, agent=request[AGENT], secret_key=request.app[CTX].settings.secret_key,
                          secret=text(form, "secret", 64), code=text(form, "code", 12))
    raise web.HTTPSeeOther("/workbench/account")


@agent_page(permission=Permission.ACCOUNT)
async def totp_disable_view(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    async with agent_transaction(request) as session:
        await totp.disable(session=session, agent=request[AGENT], secret_key=request.app[CTX].settings.secret_key,
                           code=text(form, "code", 12))
    raise web.HTTPSeeOther("/workbench/account")


async def login_totp(request: web.Request) -> web.StreamResponse:
    """Second login step: the code from the authenticator app, then the session."""
    ctx = request.app[CTX]
    form = await public_form(request)
    agent_id = totp.read_pending_token(text(form, "pending", 200), ctx.settings.secret_key)
    limiter, key = request.app[TOTP_LIMITER], f"totp:{agent_id}"
    if limiter.blocked(key):
        return public_page(request, "workbench/login_totp.html", 429, pending=text(form, "pending", 200),
                           error=gettext(request_locale(request), "Too many attempts. Start again later."))
    async with transaction(ctx.factory) as session:
        try:
            agent = await totp.second_step(session=session, agent_id=agent_id, secret_key=ctx.settings.secret_key,
                                               code=text(form, "code", 12))
        except Unauthorized as exc:
            limiter.hit(key)
            await record(session=session, org_id=None, actor_type="anonymous", actor_id=None, action="login_totp_failed",
                         detail={"ip": request.remote or ""})
            return public_page(request, "workbench/login_totp.html", 401, pending=text(form, "pending", 200),
                               error=error_text(exc, request_locale(request)))
        new = await start_session(session=session, agent=agent, hours=ctx.settings.workbench.session_hours)
        await record(session=session, org_id=agent.org_id, actor_type="agent", actor_id=agent.id, action="login",
                     detail={"ip": request.remote or "", "totp": True})
    limiter.reset(key)
    response = web.HTTPFound(home_of(agent.role))
    set_cookie(request, response, SESSION_COOKIE, new.token, max_age=ctx.settings.workbench.session_hours * 3600)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/workbench")
    raise response


def home_of(role: str) -> str:
    return "/workbench/platform" if role == "platform_admin" else "/workbench"


async def forgot_form(request: web.Request) -> web.Response:
    return public_page(request, "workbench/password_forgot.html", sent=False)


async def forgot_submit(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    form = await public_form(request)
    minutes = ctx.settings.orgs.password_reset_minutes
    async with transaction(ctx.factory) as session:
        for agent, token in await request_reset(session=session, email=text(form, "email", 320), minutes=minutes):
            link = f"{ctx.settings.server.public_url.rstrip('/')}/workbench/password/reset/{token}"
            await enqueue(session=session, channel="email", target=agent.email, org_id=agent.org_id,
                          idempotency_key=f"password-reset:{token[:24]}",
                          payload={"subject": "Reset your INCS Support password",
                                   "text": f"Someone asked to reset your password. If it was you, open this link within "
                                           f"{minutes} minutes:\n{link}\nIf not, ignore this email."})
    ctx.dispatcher.wake()
    return public_page(request, "workbench/password_forgot.html", sent=True)


async def reset_form(request: web.Request) -> web.Response:
    async with request.app[CTX].factory() as session:
        await open_reset(session=session, token=request.match_info["token"])
    return public_page(request, "workbench/password_reset.html", error="")


async def reset_submit(request: web.Request) -> web.StreamResponse:
    form = await public_form(request)
    async with transaction(request.app[CTX].factory) as session:
        await perform_reset(session=session, token=request.match_info["token"], password=str(form.get("password", ""))[:1024])
    raise web.HTTPSeeOther("/workbench/login?reset=1")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/workbench/account", account_page)
    r.add_post("/workbench/account/password", password_view)
    r.add_post("/workbench/account/totp/enable", totp_enable_view)
    r.add_post("/workbench/account/totp/disable", totp_disable_view)
    r.add_post("/workbench/login/totp", login_totp)
    r.add_get("/workbench/password/forgot", forgot_form)
    r.add_post("/workbench/password/forgot", forgot_submit)
    r.add_get("/workbench/password/reset/{token}", reset_form)
    r.add_post("/workbench/password/reset/{token}", reset_submit)
