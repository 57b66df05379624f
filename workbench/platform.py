"""The platform level: certification review (approve, or reject with a reason) and, only where an
organization granted it, read-only access to its conversations (audited in that organization's chain)."""

from __future__ import annotations

from aiohttp import web

from bot.core.certification import applications as certification
from bot.core.conversations.serialize import message_json
from bot.core.conversations.threads import get_conversation, list_messages
from bot.core.files.attachments import attachment_path
from bot.core.orgs import access
from bot.core.orgs.permissions import Permission
from bot.core.storage.db import transaction
from bot.web import CTX
from workbench.auth import AGENT, agent_page
from workbench.params import path_id
from workbench.render import render

NOT_FOUND = {"application_id": "no such application", "org_id": "no such organization",
             "conversation_id": "no such conversation"}


def _int(request: web.Request, key: str) -> int:
    return path_id(request, key, NOT_FOUND[key])


@agent_page(permission=Permission.PLATFORM_REVIEW)
async def platform_home(request: web.Request) -> web.Response:
    state = request.query.get("state", "submitted")
    state = state if state in certification.STATES else "submitted"
    async with request.app[CTX].factory() as session:
        rows = await certification.list_applications(session=session, state=state)
    return render(request, "workbench/platform.html", rows=rows, state=state, states=certification.STATES)


@agent_page(permission=Permission.PLATFORM_REVIEW)
async def application_page(request: web.Request) -> web.Response:
    async with request.app[CTX].factory() as session:
        application, org = await certification.get_application(session=session, application_id=_int(request, "application_id"))
    return render(request, "workbench/platform_application.html", application=application, org=org)


@agent_page(permission=Permission.PLATFORM_REVIEW)
async def license_file(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    async with transaction(ctx.factory) as session:
        attachment = await certification.license_of(session=session, reviewer=request[AGENT],
                                                     application_id=_int(request, "application_id"))
    return web.FileResponse(attachment_path(ctx.settings.data_dir, attachment),
                            headers={"Content-Type": attachment.mime_type,
                                     "Content-Disposition": f'attachment; filename="{attachment.filename}"'})


@agent_page(permission=Permission.PLATFORM_REVIEW)
async def decide_view(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    application_id = _int(request, "application_id")
    async with transaction(request.app[CTX].factory) as session:
        await certification.decide(session=session, reviewer=request[AGENT], application_id=application_id,
                                   approve=form.get("decision") == "approve", reason=str(form.get("reason", ""))[:4000])
    raise web.HTTPSeeOther(f"/workbench/platform/certifications/{application_id}")


@agent_page(permission=Permission.PLATFORM_GRANTED_READ)
async def granted_conversation(request: web.Request) -> web.Response:
    """Read-only; Forbidden unless the organization granted access, and every read is audited."""
    org_id, conversation_id = _int(request, "org_id"), _int(request, "conversation_id")
    async with transaction(request.app[CTX].factory) as session:
        # The grant first: without one, an existing id and a missing one look the same (403).
        await access.require_grant(session=session, reader=request[AGENT], org_id=org_id,
                                   action="platform_view_conversation", subject_id=conversation_id)
        conversation = await get_conversation(session=session, org_id=org_id, conversation_id=conversation_id)
        messages = await list_messages(session=session, org_id=org_id, conversation_id=conversation.id)
    return render(request, "workbench/platform_conversation.html", conversation=conversation,
                  messages=[message_json(m) for m in messages])


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/workbench/platform", platform_home)
    r.add_get("/workbench/platform/certifications/{application_id}", application_page)
    r.add_get("/workbench/platform/certifications/{application_id}/license", license_file)
    r.add_post("/workbench/platform/certifications/{application_id}/decision", decide_view)
    r.add_get("/workbench/platform/orgs/{org_id}/conversations/{conversation_id}", granted_conversation)
