"""Answering rights requests: what each agent action does, and what the customer is told in the chat.

Every answer is a bot message in the customer's conversation, through the outbox, on the channel the request
came from. Deletion and cancellation queue one final notice (idempotency key `rights-final:<id>`) before the
data goes; it is the only row that still addresses the customer and is purged once sent (rights/sweeps.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.common.clock import now
from bot.core.common.errors import Conflict, InvalidInput
from bot.core.conversations.customers import record_consent
from bot.core.conversations.events import Reply
from bot.core.conversations.models import ChannelIdentity, Customer
from bot.core.conversations.outbound import reply_payload, send_to_conversation
from bot.core.conversations.threads import open_conversation_for
from bot.core.delivery.outbox import enqueue
from bot.core.orgs.audit import record
from bot.core.orgs.models import Organization
from bot.core.rights import requests as rr
from bot.core.rights.apps import app_states, queue_deletion_notices, set_authorization
from bot.core.rights.erasure import ErasureReport, erase_customer, remove_files
from bot.core.rights.export import attach_package, build_export
from bot.core.rights.models import RightsRequest
from bot.core.rights.texts import label, render
from bot.core.storage.db import SessionFactory, transaction

EXPORT_STATES = ("building", "ready")  # a request's export package: being built, then ready to send and download


def _due(request: RightsRequest) -> str:
    return (request.due_at - timedelta(microseconds=1)).strftime("%Y-%m-%d") if request.due_at else "—"


async def _identity(session: AsyncSession, request: RightsRequest) -> ChannelIdentity | None:
    if request.identity_id is not None:
        identity = await session.get(ChannelIdentity, request.identity_id)
        if identity is not None:
            return identity
    if request.customer_id is None:
        return None
    return await session.scalar(select(ChannelIdentity).where(ChannelIdentity.customer_id == request.customer_id)
                                .order_by(ChannelIdentity.last_seen_at.desc()).limit(1))


async def _locale(session: AsyncSession, request: RightsRequest) -> str:
    customer = await session.get(Customer, request.customer_id) if request.customer_id else None
    return customer.locale if customer is not None else "en"


async def tell_customer(*, session: AsyncSession, request: RightsRequest, text_name: str, attachment_id: int | None = None,
                        **context: Any) -> None:
    identity = await _identity(session, request)
    if identity is None:
        return
    locale = await _locale(session, request)
    text = render(text_name, locale, number=rr.request_number(request), **context)
    conversation, _ = await open_conversation_for(session=session, identity=identity)
    await send_to_conversation(session=session, conversation=conversation, identity=identity,
                               reply=Reply(text=text, attachment_id=attachment_id), author_type="bot")


async def acknowledge(*, session: AsyncSession, request: RightsRequest) -> None:
    locale = await _locale(session, request)
    await tell_customer(session=session, request=request, text_name="rights_received", due=_due(request),
                        kind_label=label(request.kind, locale), repeated=request.repeated)


async def _load(session: AsyncSession, org_id: int, request_id: int, kinds: tuple[str, ...]) -> RightsRequest:
    request = await rr.get_request(session=session, org_id=org_id, request_id=request_id)
    if request.kind not in kinds:
        raise InvalidInput("this action does not apply to a %(kind)s request", kind=request.kind.replace("_", " "))
    if request.status not in rr.OPEN or request.status == "received":
        raise Conflict("only an open, verified request can be answered")
    if request.customer_id is None:
        raise Conflict("the customer's account no longer exists")
    return request


async def fulfil_export(*, factory: SessionFactory, settings: Settings, org_id: int, request_id: int, agent_id: int) -> None:
    """Build the package (progress kept on the request for the workbench), send it in the chat, close the request."""
    async with transaction(factory) as session:
        request = await _load(session, org_id, request_id, ("export", "review"))
        request.export_state, request.export_progress = "building", 0
        customer_id = request.customer_id
        assert customer_id is not None

    async def progress(percent: int) -> None:
        async with transaction(factory) as session:
            row = await session.get(RightsRequest, request_id)
            if row is not None:
                row.export_progress = percent

    async with factory() as session:
        org = await session.get(Organization, org_id)
        org_name = org.name if org is not None else ""
        summary = await build_export(session=session, data_dir=settings.data_dir, org_id=org_id, org_name=org_name,
                                     customer_id=customer_id, progress=progress)
    async with transaction(factory) as session:
        request = await _load(session, org_id, request_id, ("export", "review"))
        attachment = await attach_package(session=session, data_dir=settings.data_dir, org_id=org_id, customer_id=customer_id,
                                          summary=summary, number=rr.request_number(request))
        request.export_path, request.export_state = attachment.storage_path, "ready"
        await tell_customer(session=session, request=request, text_name="rights_export_ready", attachment_id=attachment.id)
        await rr.change_status(session=session, settings=settings, request=request, to="fulfilled", actor_type="agent",
                               actor_id=agent_id, reason=f"export package sent ({summary.path.stat().st_size} bytes)")


async def fulfil_erasure(
    *, factory: SessionFactory, settings: Settings, org_id: int, request_id: int, agent_id: int,
) -> ErasureReport:
    """Delete (scope all) or cancel: final notice queued, data erased, request closed as the tombstone. The report
    counts the files removed and names the chats whose identities went (the caller tells the processes' caches)."""
    async with transaction(factory) as session:
        request = await _load(session, org_id, request_id, ("delete", "cancel"))
        cancel = request.kind == "cancel"
        request.backup_until = now() + timedelta(days=settings.privacy.backup_retention_days)
        assert request.customer_id is not None
        recipients = await queue_deletion_notices(session=session, settings=settings, request=request,
                                                  customer_id=request.customer_id)
        await _final_notice(session, request, cancel, ", ".join(recipients))
        await rr.change_status(session=session, settings=settings, request=request, to="fulfilled", actor_type="agent",
                               actor_id=agent_id, reason="account cancelled" if cancel else "data deleted")
        assert request.customer_id is not None
        report = await erase_customer(session=session, org_id=org_id, customer_id=request.customer_id, cancel=cancel,
                                      secret_key=settings.secret_key)
        await record(session=session, org_id=org_id, actor_type="agent", actor_id=agent_id, action="rights_erased",
                     subject_type="rights_request", subject_id=request_id, detail={"rows": report.rows, "cancel": cancel})
    report.removed = remove_files(settings.data_dir, report.files)
    return report


async def _final_notice(session: AsyncSession, request: RightsRequest, cancel: bool, recipients: str) -> None:
    identity = await _identity(session, request)
    if identity is None:
        return
    locale = await _locale(session, request)
    assert request.backup_until is not None
    text = render("rights_deleted", locale, number=rr.request_number(request), cancelled=cancel,
                  backup_until=request.backup_until.strftime("%Y-%m-%d"), recipients=recipients)
    payload = reply_payload(Reply(text=text))
    payload.update(customer_id=request.customer_id, author="bot", message_id=None)
    await enqueue(session=session, channel=identity.channel, target=identity.external_id, payload=payload,
                  idempotency_key=f"rights-final:{request.id}", org_id=request.org_id)


async def decide_correction(*, session: AsyncSession, settings: Settings, org_id: int, request_id: int, agent_id: int,
                            approve: bool, reason: str = "") -> RightsRequest:
    request = await _load(session, org_id, request_id, ("correct",))
    if not approve:
        await tell_customer(session=session, request=request, text_name="rights_answered", answer=reason or "—")
        return await rr.change_status(session=session, settings=settings, request=request, to="denied", actor_type="agent",
                                      actor_id=agent_id, reason=reason)
    field, value = str(request.details.get("field")), str(request.details.get("value", "")).strip()
    customer = await session.get(Customer, request.customer_id)
    assert customer is not None
    if field not in rr.CORRECTABLE or (field == "locale" and value not in ("en", "zh")):
        raise InvalidInput("that field cannot be set to this value")
    setattr(customer, field, (value or None) if field in ("email", "phone") else value)
    await tell_customer(session=session, request=request, text_name="rights_corrected", field=field)
    return await rr.change_status(session=session, settings=settings, request=request, to="fulfilled", actor_type="agent",
                                  actor_id=agent_id, reason=f"{field} corrected")


async def fulfil_withdrawal(*, session: AsyncSession, settings: Settings, org_id: int, request_id: int, agent_id: int) -> RightsRequest:
    request = await _load(session, org_id, request_id, ("withdraw_consent",))
    customer = await session.get(Customer, request.customer_id)
    identity = await _identity(session, request)
    assert customer is not None
    await record_consent(session=session, customer=customer, policy_version=settings.privacy.policy_version, granted=False,
                         channel=identity.channel if identity else "workbench")
    for state in await app_states(session=session, org_id=org_id, customer_id=customer.id):  # optional processing stops
        if state.enabled:
            await set_authorization(session=session, org_id=org_id, customer_id=customer.id, app_id=state.app.id, enabled=False,
                                    actor_type="agent", actor_id=agent_id)
    await tell_customer(session=session, request=request, text_name="rights_consent_withdrawn",
                        version=settings.privacy.policy_version)
    return await rr.change_status(session=session, settings=settings, request=request, to="fulfilled", actor_type="agent",
                                  actor_id=agent_id, reason="consent withdrawn")


async def answer(*, session: AsyncSession, settings: Settings, org_id: int, request_id: int, agent_id: int, text: str) -> RightsRequest:
    """Authorization, complaint (and any request answered in words): the agent's answer goes to the customer."""
    if not text.strip():
        raise InvalidInput("write the answer the customer will get")
    request = await _load(session, org_id, request_id, rr.KINDS)
    await tell_customer(session=session, request=request, text_name="rights_answered", answer=text.strip())
    return await rr.change_status(session=session, settings=settings, request=request, to="fulfilled", actor_type="agent",
                                  actor_id=agent_id, reason="answered")


async def deny_and_tell(*, session: AsyncSession, settings: Settings, org_id: int, request_id: int, agent_id: int,
                        reason_code: str, note: str = "") -> RightsRequest:
    request = await _load(session, org_id, request_id, rr.KINDS)
    await rr.deny(session=session, settings=settings, request=request, agent_id=agent_id, reason_code=reason_code, note=note)
    locale = await _locale(session, request)
    await tell_customer(session=session, request=request, text_name="rights_denied", reason_text=label(reason_code, locale),
                        note=note.strip())
    return request


async def extend_and_tell(*, session: AsyncSession, settings: Settings, org_id: int, request_id: int, agent_id: int,
                          reason: str) -> RightsRequest:
    request = await _load(session, org_id, request_id, rr.KINDS)
    await rr.extend(session=session, settings=settings, request=request, agent_id=agent_id, reason=reason)
    await tell_customer(session=session, request=request, text_name="rights_extended", reason=reason.strip(), due=_due(request))
    return request


async def ask_fee(*, session: AsyncSession, settings: Settings, org_id: int, request_id: int, agent_id: int,
                  fee: str) -> RightsRequest:
    """A repeated request: tell the customer the fee and wait for their answer (the clock pauses)."""
    request = await _load(session, org_id, request_id, rr.KINDS)
    if not request.repeated:
        raise InvalidInput("a fee may be asked only for a repeated request")
    if not fee.strip():
        raise InvalidInput("state the fee")
    await rr.change_status(session=session, settings=settings, request=request, to="awaiting_customer", actor_type="agent",
                           actor_id=agent_id, reason=f"fee: {fee.strip()}")
    await tell_customer(session=session, request=request, text_name="rights_fee", fee=fee.strip())
    return request


async def ask_customer(*, session: AsyncSession, settings: Settings, org_id: int, request_id: int, agent_id: int,
                       question: str) -> RightsRequest:
    if not question.strip():
        raise InvalidInput("write the question for the customer")
    request = await _load(session, org_id, request_id, rr.KINDS)
    await rr.change_status(session=session, settings=settings, request=request, to="awaiting_customer", actor_type="agent",
                           actor_id=agent_id, reason=question.strip())
    await tell_customer(session=session, request=request, text_name="rights_awaiting", question=question.strip())
    return request
