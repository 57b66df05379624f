"""Admin notification pushes: one domain event reaches Slack, Telegram and email exactly once each,
also across a restart between raise and delivery; sweeps are idempotent; preferences and digest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from bot.channels.telegram.push import TelegramPushSender
from bot.core.common import clock
from bot.core.conversations.events import InboundEvent
from bot.core.conversations.models import Conversation
from bot.core.delivery.models import OutboxItem
from bot.core.notifications.fanout import EventSpec, NotificationKind, in_quiet_hours, raise_event, raise_events
from bot.core.notifications.models import NotificationEvent, NotificationPreference, NotificationPush, NotificationTarget
from bot.core.notifications.sweeps import send_digests, sweep_failing, sweep_waiting
from bot.core.storage.db import transaction
from tests.conftest import Server, free_port, make_settings, start_server
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_push_fake import FakeTelegramPush
from tests.utils.factories import OrgWithAdmin, login, make_org

ADMIN_SLACK = "U0ADMIN01"
ADMIN_CHAT = "424242"
ADMIN_MAIL = "ops@demo.example.com"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeSlack, FakeTelegramPush]]:
    slack, telegram = await FakeSlack().start(), await FakeTelegramPush().start()
    yield slack, telegram
    await slack.stop()
    await telegram.stop()


def push_settings(db_url: str, data_dir: Path, slack: FakeSlack, smtp_port: int, **notifications: Any) -> Any:
    return make_settings(
        db_url,
        data_dir,
        channels={"slack": {"bot_token": "xoxb-test", "signing_secret": "s" * 20, "api_base": slack.api_base}},
        smtp={"host": "127.0.0.1", "port": smtp_port, "timeout_seconds": 2},
        notifications={"sweep_seconds": 3600, **notifications},
    )


async def started(settings: Any, telegram: FakeTelegramPush) -> Server:
    server = await start_server(settings)
    # The Telegram customer channel is another feature; the push sender is registered as install() does with a token.
    server.ctx.dispatcher.add_sender(TelegramPushSender(telegram.url, "123:push-token"))
    return server


async def add_targets(server: Server, demo: OrgWithAdmin) -> None:
    async with transaction(server.ctx.factory) as session:
        for kind, address in (("slack", ADMIN_SLACK), ("telegram", ADMIN_CHAT), ("email", ADMIN_MAIL)):
            session.add(
                NotificationTarget(
                    org_id=demo.org.id, agent_id=demo.admin.id, kind=kind, address=address, verified_at=clock.now()
                )
            )
        session.add(NotificationTarget(org_id=demo.org.id, agent_id=demo.admin.id, kind="email", address="unverified@x.example"))


async def wait_until(predicate: Any, seconds: float = 8.0) -> None:
    async with asyncio.timeout(seconds):
        while not await predicate():  # noqa: ASYNC110 - polling a fake
            await asyncio.sleep(0.03)


async def raise_sample(server: Server, demo: OrgWithAdmin, dedup: str = "sample:1") -> bool:
    async with transaction(server.ctx.factory) as session:
        _, created = await raise_event(
            session=session,
            org_id=demo.org.id,
            kind=NotificationKind.WORK_ORDER_NEW,
            subject_type="work_order",
            subject_id=7,
            title="WO-7 <urgent> & late",
            url="/workbench/conversations/1",
            dedup_key=dedup,
            settings=server.ctx.settings,
        )
    return created


async def test_one_event_reaches_each_target_once_across_a_restart(
    db_url: str, tmp_path: Path, fakes: tuple[FakeSlack, FakeTelegramPush], smtp: tuple[Inbox, int]
) -> None:
    slack, telegram = fakes
    inbox, port = smtp
    settings = push_settings(db_url, tmp_path / "data", slack, port)
    first = await started(settings, telegram)
    demo = await make_org(first.ctx.factory, slug="demo")
    await add_targets(first, demo)
    await first.ctx.dispatcher.stop()  # the process dies after the raise commits, before any delivery
    assert await raise_sample(first, demo)
    assert not await raise_sample(first, demo)  # the same fact again: nothing new
    await first.stop()
    assert slack.called("chat.postMessage") == [] and telegram.sent == [] and inbox.messages == []

    second = await started(settings, telegram)
    try:

        async def delivered() -> bool:
            return bool(slack.called("chat.postMessage")) and bool(telegram.sent) and bool(inbox.messages)

        await wait_until(delivered)
        assert not await raise_sample(second, demo)
        await asyncio.sleep(0.3)  # a second delivery, if there were one, would show by now
        [post] = slack.called("chat.postMessage")
        assert post.args["channel"] == "D0ADMIN01" and "WO-7 &lt;urgent&gt; &amp; late" in post.args["text"]
        assert "http://127.0.0.1:8080/workbench/conversations/1" in post.args["text"]
        [tg] = telegram.sent
        assert tg["chat_id"] == ADMIN_CHAT and "WO-7 <urgent> & late" in tg["text"]
        [mail] = inbox.messages
        assert mail.rcpt_tos == [ADMIN_MAIL] and b"WO-7" in mail.content

        async with second.ctx.factory() as session:
            pushes = (await session.scalars(select(NotificationPush).order_by(NotificationPush.id))).all()
        assert sorted(p.target_kind for p in pushes) == ["email", "slack", "telegram", "workbench"]

        # The workbench shows the notification and each push's delivery state.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await login(http, second.url, demo.admin.email)

            async def all_sent() -> bool:
                async with http.get(f"{second.url}/workbench/notifications", headers={"Accept": "application/json"}) as resp:
                    body = await resp.json()
                states = {d["target"]: d["state"] for d in body["notifications"][0]["deliveries"]}
                return states == {"slack": "sent", "telegram": "sent", "email": "sent"}

            await wait_until(all_sent)
            async with http.get(f"{second.url}/workbench/notifications") as resp:
                page = await resp.text()
            assert "WO-7 &lt;urgent&gt; &amp; late" in page and 'class="delivery delivery-sent" title="">Telegram: sent<' in page
            async with http.get(f"{second.url}/workbench/notifications", headers={"Accept-Language": "zh"}) as resp:
                chinese = await resp.text()
            assert ">Telegram: 已发送<" in chinese and 'class="delivery delivery-sent" title="">邮箱: 已发送<' in chinese  # class: the code
    finally:
        await second.stop()


async def test_sweeps_raise_once_and_read_the_database(
    db_url: str, tmp_path: Path, fakes: tuple[FakeSlack, FakeTelegramPush], smtp: tuple[Inbox, int]
) -> None:
    slack, telegram = fakes
    settings = push_settings(db_url, tmp_path / "data", slack, smtp[1], waiting_minutes=10)
    server = await started(settings, telegram)
    try:
        demo = await make_org(server.ctx.factory, slug="demo")
        start = datetime(2026, 11, 29, 9, 0)
        clock.set_clock(lambda: start)
        status = await server.ctx.ingestor.submit(
            InboundEvent(org_id=demo.org.id, channel="webchat", external_id="v1", kind="text", text="hello?")
        )
        factory = server.ctx.factory
        assert await sweep_waiting(factory=factory, settings=settings) == 0  # not yet 10 minutes
        clock.set_clock(lambda: start + timedelta(minutes=11))
        assert await sweep_waiting(factory=factory, settings=settings) == 1
        assert await sweep_waiting(factory=factory, settings=settings) == 0  # idempotent
        # A new waiting episode (agent answered, customer wrote again) raises again.
        async with transaction(factory) as session:
            conv = await session.get(Conversation, status.conversation_id)
            assert conv is not None
            conv.waiting_since = start + timedelta(minutes=12)
        clock.set_clock(lambda: start + timedelta(minutes=30))
        assert await sweep_waiting(factory=factory, settings=settings) == 1

        async with transaction(factory) as session:
            for n in range(3):
                session.add(
                    OutboxItem(
                        org_id=demo.org.id,
                        channel="telegram",
                        target=f"c{n}",
                        payload={},
                        idempotency_key=f"k{n}",
                        state="failed",
                        created_at=clock.now(),
                    )
                )
            session.add(
                OutboxItem(
                    org_id=demo.org.id,
                    channel="slack-push",
                    target="x",
                    payload={},
                    idempotency_key="kp",
                    state="failed",
                    created_at=clock.now(),
                )
            )
        assert await sweep_failing(factory=factory, settings=settings) == 1
        assert await sweep_failing(factory=factory, settings=settings) == 0
        async with factory() as session:
            events = (await session.scalars(select(NotificationEvent).order_by(NotificationEvent.id))).all()
        assert [e.kind for e in events] == ["conversation_waiting", "conversation_waiting", "delivery_failing"]
        assert "telegram" in events[-1].title  # push channels' own failures never raise pushes about themselves
    finally:
        await server.stop()


async def test_preferences_quiet_hours_and_digest(
    db_url: str, tmp_path: Path, fakes: tuple[FakeSlack, FakeTelegramPush], smtp: tuple[Inbox, int]
) -> None:
    slack, telegram = fakes
    settings = push_settings(db_url, tmp_path / "data", slack, smtp[1], routes={"sla_breached": ["workbench", "email"]})
    server = await started(settings, telegram)
    try:
        demo = await make_org(server.ctx.factory, slug="demo")
        await add_targets(server, demo)
        await server.ctx.dispatcher.stop()  # inspect the queue, not the deliveries
        night = datetime(2026, 11, 29, 23, 30)
        clock.set_clock(lambda: night)
        async with transaction(server.ctx.factory) as session:
            session.add(
                NotificationPreference(
                    org_id=demo.org.id,
                    agent_id=demo.admin.id,
                    kinds=["sla_breached", "work_order_new"],
                    targets=[],
                    quiet_start="22:00",
                    quiet_end="07:00",
                    digest=True,
                    locale="zh",
                )
            )
        async with transaction(server.ctx.factory) as session:
            for kind in (NotificationKind.SLA_BREACHED, NotificationKind.RIGHTS_REQUEST_OVERDUE):
                await raise_event(
                    session=session,
                    org_id=demo.org.id,
                    kind=kind,
                    subject_type="x",
                    subject_id=1,
                    title=f"t {kind}",
                    url="/workbench",
                    dedup_key=f"pref:{kind}",
                    settings=settings,
                )
        async with server.ctx.factory() as session:
            pushes = (await session.scalars(select(NotificationPush).order_by(NotificationPush.id))).all()
            queued = (await session.scalars(select(OutboxItem))).all()
        # Not subscribed to rights requests; SLA routed to workbench + email only; quiet hours hold the email.
        assert [(p.target_kind, p.state) for p in pushes] == [("workbench", "delivered"), ("email", "held")]
        assert queued == []
        clock.set_clock(lambda: night + timedelta(hours=9))
        assert await send_digests(factory=server.ctx.factory, settings=settings) == 3  # slack, telegram, email
        assert await send_digests(factory=server.ctx.factory, settings=settings) == 3  # same keys: still one each
        async with server.ctx.factory() as session:
            digests = (await session.scalars(select(OutboxItem).order_by(OutboxItem.id))).all()
            held = (await session.scalars(select(NotificationPush.state).where(NotificationPush.target_kind == "email"))).all()
        assert len(digests) == 3 and all("每日摘要" in (d.payload.get("subject") or d.payload["text"]) for d in digests)
        assert held == ["digested"]
    finally:
        await server.stop()


def test_quiet_hours_wrap_midnight() -> None:
    pref = NotificationPreference(quiet_start="22:00", quiet_end="07:00")
    assert in_quiet_hours(pref, datetime(2026, 1, 1, 23, 0)) and in_quiet_hours(pref, datetime(2026, 1, 1, 6, 59))
    assert not in_quiet_hours(pref, datetime(2026, 1, 1, 7, 0)) and not in_quiet_hours(None, datetime(2026, 1, 1, 23, 0))


async def test_smtp_refusal_and_timeout_are_recorded_not_lost(
    db_url: str, tmp_path: Path, fakes: tuple[FakeSlack, FakeTelegramPush]
) -> None:
    slack, telegram = fakes
    settings = push_settings(db_url, tmp_path / "data", slack, free_port(), routes={"work_order_new": ["email"]})
    server = await started(settings, telegram)
    try:
        demo = await make_org(server.ctx.factory, slug="demo")
        await add_targets(server, demo)
        assert await raise_sample(server, demo)
        server.ctx.dispatcher.wake()

        async def retried() -> bool:
            async with server.ctx.factory() as session:
                item = await session.scalar(select(OutboxItem).where(OutboxItem.channel == "email-push"))
                return (
                    item is not None and item.attempts >= 1 and item.state == "pending" and "smtp unavailable" in item.last_error
                )

        await wait_until(retried)
    finally:
        await server.stop()


async def test_install_registers_push_senders_and_sweeps(sqlite_url: str, tmp_path: Path) -> None:
    from bot.app import build_context

    settings = make_settings(sqlite_url, tmp_path / "data", channels={"telegram": {"token": "123:abc"}})
    ctx = build_context(settings)
    try:
        assert {"telegram-push", "email-push"} <= set(ctx.dispatcher.senders)
        jobs = [name for name in ctx.services["scheduler"].job_names if name.startswith("notifications.")]  # other features add theirs
        assert jobs == ["notifications.waiting", "notifications.failing", "notifications.digest"]
    finally:
        await ctx.engine.dispose()


async def test_raise_events_batch_dedups_and_reaches_each_organizations_admins(db_url: str, tmp_path: Path) -> None:
    """The sweep's batch: known keys and repeats inside the batch raise nothing; each new event reaches its own
    organization's admins (recipients read once per organization), as raise_event would."""
    server = await start_server(make_settings(db_url, tmp_path / "data"))
    try:
        demo, other = await make_org(server.ctx.factory), await make_org(server.ctx.factory, slug="other")

        def spec(org_id: int, key: str) -> EventSpec:
            return EventSpec(org_id=org_id, kind=NotificationKind.SLA_AT_RISK, subject_type="work_order", subject_id=1,
                             title=f"event {key}", url="/workbench/work-orders/1", dedup_key=key, detail={"k": key})

        async with transaction(server.ctx.factory) as session:
            assert await raise_events(session=session, events=[spec(demo.org.id, "k1")], settings=server.ctx.settings) == 1
        batch = [spec(demo.org.id, "k1"), spec(demo.org.id, "k2"), spec(demo.org.id, "k2"), spec(other.org.id, "k3")]
        async with transaction(server.ctx.factory) as session:
            assert await raise_events(session=session, events=batch, settings=server.ctx.settings) == 2
        async with transaction(server.ctx.factory) as session:
            assert await raise_events(session=session, events=batch, settings=server.ctx.settings) == 0
        async with server.ctx.factory() as session:
            rows = (await session.execute(
                select(NotificationEvent.dedup_key, NotificationPush.agent_id, NotificationPush.target_kind)
                .join(NotificationPush, NotificationPush.event_id == NotificationEvent.id).order_by(NotificationEvent.dedup_key)
            )).all()
        assert [tuple(r) for r in rows] == [("k1", demo.admin.id, "workbench"), ("k2", demo.admin.id, "workbench"),
                                            ("k3", other.admin.id, "workbench")]
    finally:
        await server.stop()
