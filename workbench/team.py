"""Team page (admins): members, roles, main-administrator transfer, deactivation, invitations; and the
public page where an invited person accepts. Pages translate; bot/core/orgs/team.py decides."""

from __future__ import annotations

from aiohttp import web

from bot.core.delivery.outbox import enqueue
from bot.core.notifications.account import tell_two_factor_reset
from bot.core.orgs.permissions import Permission, may, member_org_id
from bot.core.orgs.team import (
    INVITABLE,
    accept_invitation,
    change_role,
    deactivate,
    invite,
    list_open_invitations,
    list_team,
    open_invitation,
    reactivate,
    reset_two_factor,
    transfer_main_admin,
)
from bot.core.storage.db import transaction
from bot.web import CTX
from workbench.auth import AGENT, agent_page, agent_transaction
from workbench.params import path_id
from workbench.public_forms import public_form, public_page, text
from workbench.render import render


def _agent_id(request: web.Request) -> int:
    return path_id(request, "agent_id", "no such agent")


async def _team_page(request: web.Request, link: str = "") -> web.Response:
    agent = request[AGENT]
    async with request.app[CTX].factory() as session:
        members = await list_team(session=session, org_id=member_org_id(agent))
        invitations = await list_open_invitations(session=session, org_id=member_org_id(agent))
    return render(request, "workbench/team.html", members=members, invitations=invitations, link=link,
                  invitable=INVITABLE, can_transfer=may(agent.role, Permission.MAIN_ADMIN_TRANSFER))


@agent_page(permission=Permission.TEAM_MANAGE)
async def team_page(request: web.Request) -> web.Response:
    return await _team_page(request)


@agent_page(permission=Permission.TEAM_MANAGE)
async def invite_view(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    form = await request.post()
    email, role = str(form.get("email", "")), str(form.get("role", ""))
    async with agent_transaction(request) as session:
        invitation, token = await invite(session=session, actor=request[AGENT], email=email, role=role,
                                         hours=ctx.settings.orgs.invitation_hours)
        link = f"{ctx.settings.server.public_url.rstrip('/')}/workbench/invite/{token}"
        await enqueue(session=session, channel="email", target=invitation.email, org_id=invitation.org_id,
                      idempotency_key=f"invite:{invitation.id}",
                      payload={"subject": "You are invited to INCS Support",
                               "text": f"Open this link to join your team (valid {ctx.settings.orgs.invitation_hours} hours):\n{link}"})
    ctx.dispatcher.wake()
    return await _team_page(request, link=link)


async def _then_team(request: web.Request) -> web.StreamResponse:
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response({"ok": True})
    raise web.HTTPSeeOther("/workbench/team")


@agent_page(permission=Permission.TEAM_MANAGE)
async def role_view(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    async with agent_transaction(request) as session:
        await change_role(session=session, actor=request[AGENT], agent_id=_agent_id(request), role=str(form.get("role", "")))
    return await _then_team(request)


@agent_page(permission=Permission.TEAM_MANAGE)
async def deactivate_view(request: web.Request) -> web.StreamResponse:
    async with agent_transaction(request) as session:
        await deactivate(session=session, actor=request[AGENT], agent_id=_agent_id(request))
    return await _then_team(request)


@agent_page(permission=Permission.TEAM_MANAGE)
async def reactivate_view(request: web.Request) -> web.StreamResponse:
    async with agent_transaction(request) as session:
        await reactivate(session=session, actor=request[AGENT], agent_id=_agent_id(request))
    return await _then_team(request)


@agent_page(permission=Permission.TEAM_MANAGE)
async def totp_reset_view(request: web.Request) -> web.StreamResponse:
    actor = request[AGENT]
    async with agent_transaction(request) as session:
        member = await reset_two_factor(session=session, actor=actor, agent_id=_agent_id(request))
        await tell_two_factor_reset(session=session, agent=member,
                                    who=f"{actor.name or actor.email}, an administrator of your organization,")
    request.app[CTX].dispatcher.wake()
    return await _then_team(request)


@agent_page(permission=Permission.MAIN_ADMIN_TRANSFER)
async def transfer_view(request: web.Request) -> web.StreamResponse:
    async with agent_transaction(request) as session:
        await transfer_main_admin(session=session, actor=request[AGENT], agent_id=_agent_id(request))
    return await _then_team(request)


async def invitation_form(request: web.Request) -> web.Response:
    async with request.app[CTX].factory() as session:
        invitation = await open_invitation(session=session, token=request.match_info["token"])
    return public_page(request, "workbench/invitation.html", email=invitation.email, role=invitation.role, error="")


async def invitation_accept(request: web.Request) -> web.StreamResponse:
    form = await public_form(request)
    async with transaction(request.app[CTX].factory) as session:
        await accept_invitation(session=session, token=request.match_info["token"], name=text(form, "name", 200),
                                password=str(form.get("password", ""))[:1024])
    raise web.HTTPSeeOther("/workbench/login?joined=1")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/workbench/team", team_page)
    r.add_post("/workbench/team/invite", invite_view)
    r.add_post("/workbench/team/{agent_id}/role", role_view)
    r.add_post("/workbench/team/{agent_id}/deactivate", deactivate_view)
    r.add_post("/workbench/team/{agent_id}/reactivate", reactivate_view)
    r.add_post("/workbench/team/{agent_id}/transfer", transfer_view)
    r.add_post("/workbench/team/{agent_id}/totp-reset", totp_reset_view)
    r.add_get("/workbench/invite/{token}", invitation_form)
    r.add_post("/workbench/invite/{token}", invitation_accept)
