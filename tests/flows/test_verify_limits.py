"""Identity checks as configured: lockout pushes follow the configured routes; only configured methods are offered."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.core.notifications.models import NotificationEvent, NotificationPush
from tests.conftest import Server, make_settings, start_server
from tests.fakes.smtp import SmtpSink
from tests.flows.helpers import ask_code, bot_says, code_from_email, start_chat
from tests.utils.factories import OrgWithAdmin, make_org
from tests.utils.webchat import Visitor


async def test_a_lockout_push_follows_the_configured_routes(db_url: str, tmp_path: Path, smtp_sink: SmtpSink) -> None:
    smtp = {"host": smtp_sink.host, "port": smtp_sink.port, "timeout_seconds": 2}
    settings = make_settings(db_url, tmp_path / "data", smtp=smtp,
                             notifications={"routes": {"identity_check_failures": ["email"]}})
    server = await start_server(settings)
    visitor = Visitor(server.url)
    try:
        await make_org(server.ctx.factory, slug="demo")
        await start_chat(visitor)
        await ask_code(visitor, "dora@example.com")
        code = await code_from_email(smtp_sink, "dora@example.com")
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        for _ in range(settings.verification.max_attempts - 1):
            await visitor.say(wrong)
            await bot_says(visitor, "not right")
        await visitor.say(wrong)
        await bot_says(visitor, "verification is paused until")
        async with server.ctx.factory() as session:
            event = await session.scalar(select(NotificationEvent).where(NotificationEvent.kind == "identity_check_failures"))
            assert event is not None
            targets = (await session.scalars(select(NotificationPush.target_kind).where(NotificationPush.event_id == event.id))).all()
        assert "workbench" not in targets  # routed to email only, as configured
    finally:
        await visitor.close()
        await server.stop()


async def test_only_configured_methods_are_offered(server: Server, demo: OrgWithAdmin) -> None:
    """No SMTP configured: the bot asks for a mobile number only, and an email address is redirected, not promised."""
    visitor = Visitor(server.url)
    try:
        await start_chat(visitor)
        await visitor.say("verify")
        ask = await bot_says(visitor, "To confirm who you are")
        assert "mobile number" in ask["text"] and "email" not in ask["text"]
        await visitor.say("eve@example.com")
        redirected = await bot_says(visitor, "cannot be sent by email")
        assert "mobile number" in redirected["text"] and "later" not in redirected["text"]
        await visitor.say("+8613800000000")
        await bot_says(visitor, "code is on its way")
    finally:
        await visitor.close()
