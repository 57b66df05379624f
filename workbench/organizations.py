"""Organization pages: sign-up (public), profile and logo, settings (service switches, two-factor
requirement, platform access grant), certification application. Pages translate; bot/core/orgs decides."""

from __future__ import annotations

from aiohttp import web

from bot.core.business_time import WEEKDAYS
from bot.core.business_time.orgs import country_codes, set_business_hours, zone_names
from bot.core.certification import applications as certification
from bot.core.common.errors import InvalidInput, NotFound
from bot.core.files.attachments import attachment_path
from bot.core.files.models import Attachment
from bot.core.orgs import access, profile
from bot.core.orgs.agents import start_session
from bot.core.orgs.organizations import get_organization, get_organization_by_slug
from bot.core.orgs.permissions import Permission, member_org_id
from bot.core.orgs.signup import sign_up
from bot.core.storage.db import transaction
from bot.web import CTX
from workbench.auth import AGENT, LOGIN_CSRF_COOKIE, SESSION_COOKIE, agent_page, agent_session, agent_transaction, set_cookie
from workbench.public_forms import public_form, public_page, text
from workbench.render import render


async def signup_form(request: web.Request) -> web.Response:
    return public_page(request, "workbench/signup.html", error="")


async def signup_submit(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    form = await public_form(request)
    async with transaction(ctx.factory) as session:
        _org, admin = await sign_up(session=session, org_name=text(form, "org_name", 300), email=text(form, "email", 320),
                                    name=text(form, "name", 200), password=str(form.get("password", ""))[:1024])
        new = await start_session(session=session, agent=admin, hours=ctx.settings.workbench.session_hours)
    response = web.HTTPSeeOther("/workbench/organization")
    set_cookie(request, response, SESSION_COOKIE, new.token, max_age=ctx.settings.workbench.session_hours * 3600)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/workbench")
    raise response


@agent_page(permission=Permission.ORG_PROFILE)
async def organization_page(request: web.Request) -> web.Response:
    agent = request[AGENT]
    async with agent_session(request) as session:
        org = await get_organization(session=session, org_id=member_org_id(agent))
        application = await certification.latest_application(session=session, org_id=org.id)
        grant = await access.active_grant(session=session, org_id=org.id)
    deployment = request.app[CTX].settings.business_time
    return render(request, "workbench/organization.html", org=org, application=application, grant=grant,
                  services=profile.SERVICES, service_on=lambda key: profile.service_on(org, key),
                  license_types=request.app[CTX].settings.orgs.license_mime_types, weekdays=WEEKDAYS,
                  hours_of=lambda day: ", ".join((org.business_hours or deployment.hours).get(day, [])),
                  deployment=deployment, zones=zone_names(), countries=country_codes())


def _back() -> web.HTTPSeeOther:
    return web.HTTPSeeOther("/workbench/organization")


@agent_page(permission=Permission.ORG_PROFILE)
async def profile_view(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    form = await request.post()
    values = {field: str(form[field]) for field in profile.PROFILE_FIELDS if isinstance(form.get(field), str)}
    upload = form.get("logo")
    async with agent_transaction(request) as session:
        await profile.update_profile(session=session, actor=request[AGENT], values=values)
        if isinstance(upload, web.FileField) and upload.filename:
            limits = ctx.settings.orgs
            await profile.set_logo(session=session, actor=request[AGENT], data_dir=ctx.settings.data_dir,
                                   filename=upload.filename, mime_type=(upload.content_type or "").lower(),
                                   content=upload.file.read(limits.logo_max_bytes + 1), max_bytes=limits.logo_max_bytes,
                                   allowed=limits.logo_mime_types)
    raise _back()


@agent_page(permission=Permission.ORG_SETTINGS)
async def settings_view(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    async with agent_transaction(request) as session:
        await profile.update_settings(session=session, actor=request[AGENT], enabled={str(v) for v in form.getall("services", [])},
                                      require_admin_totp=form.get("require_admin_totp") == "on")
    raise _back()


@agent_page(permission=Permission.ORG_SETTINGS)
async def business_hours_view(request: web.Request) -> web.StreamResponse:
    """Timezone, opening hours (own or the deployment's) and holiday country; refused with the reason when invalid."""
    ctx = request.app[CTX]
    form = await request.post()

    def field(name: str, limit: int = 200) -> str:
        value = form.get(name, "")
        return value[:limit] if isinstance(value, str) else ""

    hours = {day: field(f"hours_{day}") for day in WEEKDAYS} if field("hours_mode") == "own" else None
    chosen = field("holiday_country", 10)
    country = None if chosen == "" else "" if chosen == "none" else chosen
    async with agent_transaction(request) as session:
        await set_business_hours(session=session, actor=request[AGENT], settings=ctx.settings, timezone=field("timezone", 64),
                                 hours=hours, country=country)
    raise _back()


@agent_page(permission=Permission.ORG_SETTINGS)
async def grant_view(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    form = await request.post()
    async with agent_transaction(request) as session:
        if form.get("revoke"):
            await access.revoke(session=session, actor=request[AGENT])
        else:
            await access.grant(session=session, actor=request[AGENT], hours=ctx.settings.orgs.platform_grant_hours,
                               reason=str(form.get("reason", ""))[:1000])
    raise _back()


@agent_page(permission=Permission.CERTIFICATION_APPLY)
async def certification_view(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    form = await request.post()
    upload = form.get("license")
    if not isinstance(upload, web.FileField) or not upload.filename:
        raise InvalidInput("license: attach the business license")
    content = upload.file.read(ctx.settings.orgs.license_max_bytes + 1)
    async with agent_transaction(request) as session:
        await certification.apply(session=session, actor=request[AGENT], settings=ctx.settings,
                                  legal_name=str(form.get("legal_name", "")), address=str(form.get("address", "")),
                                  filename=upload.filename, mime_type=(upload.content_type or "").lower(), content=content,
                                  data_dir=ctx.settings.data_dir)
    ctx.dispatcher.wake()
    raise _back()


async def logo(request: web.Request) -> web.StreamResponse:
    """Public: an organization's logo is part of its brand card."""
    ctx = request.app[CTX]
    async with ctx.factory() as session:
        org = await get_organization_by_slug(session=session, slug=request.match_info["slug"])
        picture = await session.get(Attachment, org.logo_attachment_id) if org.logo_attachment_id else None
    if picture is None or picture.org_id != org.id:
        raise NotFound("no logo")
    return web.FileResponse(attachment_path(ctx.settings.data_dir, picture),
                            headers={"Content-Type": picture.mime_type, "Cache-Control": "public, max-age=300"})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/workbench/signup", signup_form)
    r.add_post("/workbench/signup", signup_submit)
    r.add_get("/workbench/organization", organization_page)
    r.add_post("/workbench/organization/profile", profile_view)
    r.add_post("/workbench/organization/settings", settings_view)
    r.add_post("/workbench/organization/business-hours", business_hours_view)
    r.add_post("/workbench/organization/platform-access", grant_view)
    r.add_post("/workbench/organization/certification", certification_view)
    r.add_get("/orgs/{slug}/logo", logo)
