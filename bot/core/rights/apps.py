"""Third-party apps and the customer's authorization scope (policy 二 7.1, 四 4), and deletion notices (四 3).

An organization defines its apps (name, purpose, data categories, a notice webhook or email). A customer
sees them in the chat and turns each on or off; the change takes effect at once and is audited. When a
customer's data is deleted, every active app they had authorized gets a deletion notice through the outbox,
naming the customer only by that app's pseudonym for them, with a link to acknowledge it; the request page
tracks each notice until acknowledged.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.common.clock import now
from bot.core.common.errors import InvalidInput, NotFound
from bot.core.delivery.outbox import enqueue
from bot.core.orgs.audit import record
from bot.core.orgs.switches import APPS, require_on
from bot.core.rights.models import AppAuthorization, DeletionNotice, RightsRequest, ThirdPartyApp
from bot.core.rights.requests import request_number

NOTICE_STATES = ("sent", "acknowledged")  # a deletion notice's, until the app acknowledges it
NOTICE_CHANNELS = ("webhook", "email")  # the outbox channel a deletion notice goes by (`via`): the app's webhook, else its email


async def create_app(
    *, session: AsyncSession, org_id: int, name: str, purpose: str, categories: list[str], webhook: str = "", email: str = "",
) -> ThirdPartyApp:
    await require_on(session=session, org_id=org_id, key=APPS)
    name, webhook, email = name.strip(), webhook.strip(), email.strip()
    if not name:
        raise InvalidInput("an app needs a name")
    if not webhook and not email:
        raise InvalidInput("give a notice webhook or a notice email address")
    if webhook and not webhook.startswith(("https://", "http://")):
        raise InvalidInput("the notice webhook must be an http(s) URL")
    if email and "@" not in email:
        raise InvalidInput("the notice email address is not valid")
    app = ThirdPartyApp(org_id=org_id, name=name[:200], purpose=purpose.strip(),
                        data_categories=[c.strip() for c in categories if c.strip()], notice_webhook=webhook,
                        notice_email=email, active=True)
    session.add(app)
    await session.flush()
    return app


async def list_apps(*, session: AsyncSession, org_id: int) -> list[ThirdPartyApp]:
    return list((await session.scalars(select(ThirdPartyApp).where(ThirdPartyApp.org_id == org_id, ThirdPartyApp.active.is_(True))
                                       .order_by(ThirdPartyApp.id))).all())


@dataclass(frozen=True)
class AppState:
    app: ThirdPartyApp
    enabled: bool


async def app_states(*, session: AsyncSession, org_id: int, customer_id: int) -> list[AppState]:
    answers = {a.app_id: a.enabled for a in (await session.scalars(select(AppAuthorization).where(
        AppAuthorization.org_id == org_id, AppAuthorization.customer_id == customer_id))).all()}
    return [AppState(app, answers.get(app.id, False)) for app in await list_apps(session=session, org_id=org_id)]


async def set_authorization(
    *, session: AsyncSession, org_id: int, customer_id: int, app_id: int, enabled: bool, actor_type: str, actor_id: int | None,
) -> AppState:
    await require_on(session=session, org_id=org_id, key=APPS)
    app = await session.get(ThirdPartyApp, app_id)
    if app is None or app.org_id != org_id or not app.active:
        raise NotFound("no such app")
    row = await session.scalar(select(AppAuthorization).where(AppAuthorization.customer_id == customer_id,
                                                              AppAuthorization.app_id == app_id))
    if row is None:
        row = AppAuthorization(org_id=org_id, customer_id=customer_id, app_id=app_id)
        session.add(row)
    row.enabled, row.changed_at = enabled, now()
    await session.flush()
    await record(session=session, org_id=org_id, actor_type=actor_type, actor_id=actor_id,
                 action="app_authorized" if enabled else "app_revoked", subject_type="customer", subject_id=customer_id,
                 detail={"app_id": app_id})
    return AppState(app, enabled)


def pseudonym(secret_key: str, app_id: int, customer_id: int) -> str:
    """How an app knows the customer: stable per app, meaningless to anyone else."""
    return hmac.new(secret_key.encode(), f"app:{app_id}:{customer_id}".encode(), hashlib.sha256).hexdigest()[:32]


def ack_token(secret_key: str, notice_id: int) -> str:
    return hmac.new(secret_key.encode(), f"notice-ack:{notice_id}".encode(), hashlib.sha256).hexdigest()[:32]


async def queue_deletion_notices(*, session: AsyncSession, settings: Settings, request: RightsRequest, customer_id: int) -> list[str]:
    """One notice per active app the customer had authorized; returns the apps' names (told to the customer)."""
    names = []
    for state in await app_states(session=session, org_id=request.org_id, customer_id=customer_id):
        if not state.enabled:
            continue
        app = state.app
        via, target = ("webhook", app.notice_webhook) if app.notice_webhook else ("email", app.notice_email)
        notice = DeletionNotice(org_id=request.org_id, request_id=request.id, app_id=app.id, via=via, state="sent")
        session.add(notice)
        await session.flush()
        ack = f"{settings.server.public_url.rstrip('/')}/rights/notices/{notice.id}/ack?t={ack_token(settings.secret_key, notice.id)}"
        body = {"event": "personal_data_deletion", "request": request_number(request), "app": app.name,
                "subject": pseudonym(settings.secret_key, app.id, customer_id), "acknowledge_url": ack}
        text = (f"Request {body['request']}: delete the personal data of subject {body['subject']} that {app.name} received "
                f"from us. Confirm at {ack}")
        await enqueue(session=session, channel=via, target=target, org_id=request.org_id,
                      payload={"body": body, "subject": f"Deletion request {body['request']}", "text": text},
                      idempotency_key=f"deletion-notice:{notice.id}")
        names.append(app.name)
    return names


async def acknowledge_notice(*, session: AsyncSession, secret_key: str, notice_id: int, token: str) -> DeletionNotice:
    notice = await session.get(DeletionNotice, notice_id)
    if notice is None or not hmac.compare_digest(ack_token(secret_key, notice_id), token):
        raise NotFound("no such notice")
    if notice.state != "acknowledged":
        notice.state, notice.acknowledged_at = "acknowledged", now()
        await record(session=session, org_id=notice.org_id, actor_type="system", actor_id=None, action="deletion_notice_acknowledged",
                     subject_type="rights_request", subject_id=notice.request_id, detail={"app_id": notice.app_id})
    return notice


async def notices_of(*, session: AsyncSession, request_id: int) -> list[tuple[DeletionNotice, str]]:
    rows = await session.execute(select(DeletionNotice, ThirdPartyApp.name).join(ThirdPartyApp, ThirdPartyApp.id == DeletionNotice.app_id)
                                 .where(DeletionNotice.request_id == request_id).order_by(DeletionNotice.id))
    return [(notice, name) for notice, name in rows.all()]
