"""Delivers one-time codes by email (SMTP) and SMS right after the challenge is committed.

Codes are not sent through the outbox: a code must arrive now or not at all, and a failed send must
undo its challenge so it does not count against the user's limits. They are not sent inside the
ingest transaction either, where a slow SMTP server would hold up every channel's messages: the flow
hands the code here, the ingest writer's after-commit hook releases it, and a task sends it.
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from prometheus_client import Counter
from sqlalchemy import delete

from bot.config import Settings
from bot.core.common import metrics
from bot.core.conversations.events import Reply
from bot.core.conversations.live import Hub, publish_message
from bot.core.conversations.models import ChannelIdentity, Conversation
from bot.core.conversations.outbound import send_to_conversation
from bot.core.conversations.serialize import message_json
from bot.core.delivery.senders import DeliveryError, Sender
from bot.core.delivery.sms import SmsError, SmsProvider
from bot.core.identity.codes import CodeJob
from bot.core.identity.models import VerificationChallenge
from bot.core.identity.verification import mark_sent, pending_challenge
from bot.core.storage.db import SessionFactory, transaction
from bot.flows.texts import render_text
from bot.paths import TEMPLATES

log = logging.getLogger(__name__)
CODES_SENT = Counter(
    "incs_verification_codes", "One-time codes by delivery result", ["kind", "result"], registry=metrics.REGISTRY
)


@lru_cache(maxsize=1)
def _email_env() -> Environment:
    # Plain-text email: nothing here is HTML.
    return Environment(loader=FileSystemLoader(TEMPLATES / "email"), autoescape=False, undefined=StrictUndefined)  # noqa: S701


def email_payload(job: CodeJob) -> dict[str, Any]:
    """templates/email/<locale>/verify_code.txt: the first line is the subject, the rest the body."""
    locale = job.locale if job.locale in ("en", "zh") else "en"
    text = _email_env().get_template(f"{locale}/verify_code.txt").render(org=job.org_name, code=job.code, minutes=job.minutes)
    subject, _, body = text.strip().partition("\n")
    return {"subject": subject.removeprefix("Subject:").strip(), "text": body.strip() + "\n"}


class CodeCourier:
    def __init__(
        self, *, factory: SessionFactory, settings: Settings, hub: Hub, wake: Any, email: Sender | None, sms: SmsProvider
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.hub = hub
        self.wake_outbox = wake
        self.email = email
        self.sms = sms
        self._uncommitted: list[CodeJob] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def available(self, kind: str) -> bool:
        if kind == "email":
            return self.email is not None and bool(self.settings.smtp.host)
        return True

    def submit(self, job: CodeJob) -> None:
        """Called inside the ingest transaction; nothing is sent before that transaction commits."""
        self._uncommitted.append(job)

    def committed(self) -> None:
        """Ingest after-commit hook. Jobs of a rolled-back attempt go too, and are dropped by the challenge check."""
        jobs, self._uncommitted = self._uncommitted, []
        for job in jobs:
            task = asyncio.get_running_loop().create_task(self.deliver(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def deliver(self, job: CodeJob) -> None:
        async with self.factory() as session:
            challenge = await pending_challenge(
                session=session, challenge_id=job.challenge_id, secret_key=self.settings.secret_key, code=job.code
            )
        if challenge is None:
            return
        try:
            await self._send(job)
        except (DeliveryError, SmsError) as exc:
            CODES_SENT.labels(job.kind, "failed").inc()
            log.warning("verification code for challenge %s not delivered by %s: %s", job.challenge_id, job.kind, exc)
            await self._undo(job)
            return
        CODES_SENT.labels(job.kind, "sent").inc()
        log.info("verification code for challenge %s sent by %s", job.challenge_id, job.kind)  # never the code itself
        async with transaction(self.factory) as session:
            await mark_sent(session=session, challenge_id=job.challenge_id)

    async def _send(self, job: CodeJob) -> None:
        if job.kind == "email":
            if self.email is None:
                raise SmsError("email is not configured")
            await self.email.send(job.address, email_payload(job))
            return
        text = render_text("verify_sms", job.locale, org_name=job.org_name, code=job.code, minutes=job.minutes)
        await self.sms.send(job.address, text)

    async def _undo(self, job: CodeJob) -> None:
        """The challenge never existed as far as limits go; the user is told to try again later."""
        async with transaction(self.factory) as session:
            await session.execute(
                delete(VerificationChallenge).where(
                    VerificationChallenge.id == job.challenge_id, VerificationChallenge.state == "sending"
                )
            )
            identity = await session.get(ChannelIdentity, job.identity_id)
            conversation = await session.get(Conversation, job.conversation_id)
            if identity is None or conversation is None:
                return
            state = dict(identity.flow_state or {})
            state.pop("verify", None)
            identity.flow_state = state
            reply = Reply(text=render_text("verify_send_failed", job.locale))
            message = await send_to_conversation(
                session=session, conversation=conversation, identity=identity, reply=reply, author_type="bot"
            )
        await publish_message(
            self.hub, org_id=job.org_id, conversation_id=job.conversation_id, customer_id=None, message=message_json(message)
        )
        self.wake_outbox()
