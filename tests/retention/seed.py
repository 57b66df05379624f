"""Rows of every retention category, one old (written at T0) and one young (just inside its period at MOMENT)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from bot.channels.telegram.models import TelegramSent, TelegramTopicMessage
from bot.config import RetentionConfig
from bot.core.common import clock
from bot.core.conversations.models import ChannelIdentity, Conversation, Customer, Message
from bot.core.delivery.models import OutboxItem
from bot.core.files.models import Attachment
from bot.core.orgs.audit import checkpoint_all, record
from bot.core.rights.models import RightsRequest, RightsRequestEvent
from bot.core.storage.db import SessionFactory, transaction
from bot.core.storage.files import private_dir, write_private
from bot.core.work_orders.models import WorkOrder, WorkOrderEvent
from tests.utils.factories import make_org

T0 = datetime(2025, 1, 1, 12, 0)
MOMENT = T0 + timedelta(days=400)
CONFIG = RetentionConfig(messages_days=100, attachments_days=50, outbox_days=10, work_orders_days=60,
                         rights_requests_days=200, tombstones_days=300, audit_days=90, telegram_journal_days=5,
                         batch_size=2)


def young(days: int | None) -> datetime:
    """Just inside a period of `days` at MOMENT."""
    assert days is not None
    return MOMENT - timedelta(days=days) + timedelta(hours=1)


@dataclass
class Seeded:
    org_id: int
    old: dict[str, list[int]] = field(default_factory=dict)
    kept: dict[str, list[int]] = field(default_factory=dict)
    old_files: list[Path] = field(default_factory=list)
    young_files: list[Path] = field(default_factory=list)


async def _one(session: object, model: type, **values: object) -> int:
    result = await session.execute(insert(model).values(**values))  # type: ignore[attr-defined]
    return int(result.inserted_primary_key[0])


def _file(data_dir: Path, name: str) -> tuple[str, Path]:
    relative = Path("attachments") / "1" / name
    path = data_dir / relative
    private_dir(path.parent)
    write_private(path, b"scan " + name.encode())
    return str(relative), path


async def seed(factory: SessionFactory, data_dir: Path) -> Seeded:
    clock.set_clock(lambda: T0)
    org = (await make_org(factory, slug="keep")).org
    s = Seeded(org_id=org.id)
    kept, old = s.kept, s.old
    async with transaction(factory) as session:
        cust = await _one(session, Customer, org_id=org.id, name="Ann", status="active", locale="en", first_seen_at=T0, last_seen_at=T0)
        ident = await _one(session, ChannelIdentity, org_id=org.id, customer_id=cust, channel="webchat", external_id="v-1",
                           display_name="", reachable=True, flow_state={}, created_at=T0, last_seen_at=T0)

        def conv(at: datetime) -> dict[str, object]:
            return dict(org_id=org.id, customer_id=cust, identity_id=ident, channel="webchat", status="resolved",
                        unread_count=0, last_message_preview="", created_at=at, last_activity_at=at)

        def msg(conversation: int, at: datetime, **extra: object) -> dict[str, object]:
            return dict(org_id=org.id, conversation_id=conversation, identity_id=ident, direction="in", author_type="customer",
                        kind="text", text="hello", delivery_state="received", edited=False, created_at=at, **extra)

        # messages: an old conversation with only old messages goes whole; a mixed one keeps its young message
        gone_conv = await _one(session, Conversation, **conv(T0))
        mixed_conv = await _one(session, Conversation, **conv(young(CONFIG.messages_days)))
        held_conv = await _one(session, Conversation, **conv(T0))  # kept by its open work order
        old["conversations"] = [gone_conv]
        kept["conversations"] = [mixed_conv, held_conv]
        old_att_path, old_path = _file(data_dir, "old.png")
        young_att_path, young_path = _file(data_dir, "young.png")
        s.old_files, s.young_files = [old_path], [young_path]
        old_att = await _one(session, Attachment, org_id=org.id, customer_id=cust, filename="old.png", mime_type="image/png",
                             size=10, sha256="", storage_path=old_att_path, created_at=T0)
        young_att = await _one(session, Attachment, org_id=org.id, customer_id=cust, filename="young.png", mime_type="image/png",
                               size=10, sha256="", storage_path=young_att_path, created_at=young(CONFIG.attachments_days))
        old["attachments"], kept["attachments"] = [old_att], [young_att]
        old_msgs = [await _one(session, Message, **msg(gone_conv, T0, attachment_id=old_att)),
                    await _one(session, Message, **msg(gone_conv, T0)),
                    await _one(session, Message, **msg(mixed_conv, T0)),
                    await _one(session, Message, **msg(held_conv, T0))]
        queued = await _one(session, Message, **msg(mixed_conv, T0))  # its reply still waits in the outbox: kept
        young_msg = await _one(session, Message, **msg(mixed_conv, young(CONFIG.messages_days), attachment_id=young_att))
        old["messages"], kept["messages"] = old_msgs, [queued, young_msg]
        await _one(session, TelegramTopicMessage, message_id=old_msgs[0], chat_id=-100, topic_message_id=7, created_at=T0)

        def out(key: str, state: str, at: datetime, message: int | None = None) -> dict[str, object]:
            return dict(org_id=org.id, channel="webchat", target="v-1", payload={"text": "hi"}, idempotency_key=key,
                        message_id=message, state=state, attempts=1, next_attempt_at=at, last_error="", created_at=at)

        old["outbox"] = [await _one(session, OutboxItem, **out("o-sent", "sent", T0, old_msgs[1])),
                         await _one(session, OutboxItem, **out("o-failed", "failed", T0))]
        kept["outbox"] = [await _one(session, OutboxItem, **out("o-pending", "pending", T0, queued)),
                          await _one(session, OutboxItem, **out("o-young", "sent", young(CONFIG.outbox_days)))]
        old["telegram_journal"] = [await _one(session, TelegramSent, key="tg-old", platform_message_id="1", sent_at=T0)]
        kept["telegram_journal"] = [await _one(session, TelegramSent, key="tg-young", platform_message_id="2",
                                               sent_at=young(CONFIG.telegram_journal_days))]

        def order(number: int, status: str, closed: datetime | None, conversation: int | None = None) -> dict[str, object]:
            return dict(org_id=org.id, number=number, customer_id=cust, conversation_id=conversation, channel="webchat",
                        category="billing", description="refund please", attachment_ids=[], status=status, priority="normal",
                        created_at=T0, updated_at=T0, closed_at=closed, resolved_at=closed)

        old["work_orders"] = [await _one(session, WorkOrder, **order(1, "closed", T0, gone_conv))]
        await _one(session, WorkOrderEvent, org_id=org.id, work_order_id=old["work_orders"][0], actor_type="customer",
                   kind="created", detail={}, created_at=T0)
        kept["work_orders"] = [await _one(session, WorkOrder, **order(2, "closed", young(CONFIG.work_orders_days))),
                               await _one(session, WorkOrder, **order(3, "open", None, held_conv))]

        def request(number: int, kind: str, status: str, closed: datetime | None) -> dict[str, object]:
            return dict(org_id=org.id, number=number, customer_id=cust, identity_id=ident, kind=kind, status=status,
                        details={"text": "what do you hold"}, received_at=T0, closed_at=closed, created_at=T0)

        old["rights_requests"] = [await _one(session, RightsRequest, **request(1, "export", "fulfilled", T0)),
                                  await _one(session, RightsRequest, **request(2, "delete", "denied", T0))]
        await _one(session, RightsRequestEvent, org_id=org.id, request_id=old["rights_requests"][0], actor_type="agent",
                   action="status", created_at=T0)
        kept["rights_requests"] = [await _one(session, RightsRequest, **request(3, "export", "fulfilled",
                                                                                  young(CONFIG.rights_requests_days))),
                                   await _one(session, RightsRequest, **request(4, "review", "in_progress", None))]
        old["tombstones"] = [await _one(session, RightsRequest, **request(5, "cancel", "fulfilled", T0))]
        kept["tombstones"] = [await _one(session, RightsRequest, **request(6, "delete", "fulfilled",
                                                                             young(CONFIG.tombstones_days)))]
        for n in range(3):
            await record(session=session, org_id=org.id, actor_type="agent", actor_id=1, action="view_customer",
                         subject_type="customer", subject_id=cust, detail={"n": n})
        await record(session=session, org_id=None, actor_type="agent", actor_id=1, action="platform_review")
    async with transaction(factory) as session:
        await checkpoint_all(session=session)  # the old segment: closed by a checkpoint at T0
    clock.set_clock(lambda: young(CONFIG.audit_days))
    async with transaction(factory) as session:
        for n in range(2):
            await record(session=session, org_id=org.id, actor_type="customer", actor_id=cust, action="message",
                         subject_type="conversation", subject_id=mixed_conv, detail={"n": n})
        await checkpoint_all(session=session)  # a young segment: stays
    clock.set_clock(lambda: MOMENT)
    return s
