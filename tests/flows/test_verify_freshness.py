"""Flows that need an identity check accept a recent one and ask again when it is older than configured."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.channels.otp.courier import CodeCourier
from bot.core.common import clock
from bot.core.conversations.customers import resolve_identity
from bot.core.conversations.events import InboundEvent
from bot.core.conversations.live import Hub
from bot.core.conversations.models import Customer
from bot.core.conversations.threads import open_conversation_for
from bot.core.delivery.sms import ConsoleSmsProvider
from bot.core.storage.db import create_engine, session_factory
from bot.flows.engine import FlowCall
from bot.flows.verify import STATE, require_verification
from tests.conftest import make_settings
from tests.utils.factories import make_org


async def test_recent_verification_is_accepted_and_an_old_one_asked_again(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path / "data", verification={"freshness_hours": 24})
    engine = create_engine(db_url)
    factory = session_factory(engine)
    try:
        org = (await make_org(factory)).org
        async with factory() as session, session.begin():
            resolved = await resolve_identity(session=session, org_id=org.id, channel="webchat", external_id="v1")
            conversation, _ = await open_conversation_for(session=session, identity=resolved.identity)
            event = InboundEvent(org_id=org.id, channel="webchat", external_id="v1", kind="button", payload="rights:export")
            courier = CodeCourier(factory=factory, settings=settings, hub=Hub(), wake=lambda: None, email=None,
                                  sms=ConsoleSmsProvider(production=False))  # codes by SMS only: the prompt offers what is configured
            call = FlowCall(session=session, settings=settings, org=org, identity=resolved.identity, customer=resolved.customer,
                            conversation=conversation, event=event, new_customer=False, new_conversation=False,
                            services={"verification_courier": courier})
            customer: Customer = call.customer

            asked = await require_verification(call, resume="rights:export")
            assert asked and "confirm who you are" in asked[0].text
            assert call.state[STATE]["resume"] == "rights:export" and call.state[STATE]["step"] == "address"

            customer.verified_at = clock.now() - timedelta(hours=23)
            assert await require_verification(call, resume="rights:export") is None
            customer.verified_at = clock.now() - timedelta(hours=24, minutes=1)
            assert await require_verification(call, resume="rights:export") is not None
    finally:
        await engine.dispose()


def test_flow_order_does_not_depend_on_import_order() -> None:
    from bot.flows import engine

    saved = list(engine._FLOWS)
    try:
        engine._FLOWS.clear()

        async def handler(call: FlowCall) -> None:
            return None

        for name in ("verify", "some_new_flow", "consent", "greeting"):  # imported "in the wrong order"
            engine.register(name)(handler)
        assert [name for name, _ in engine._FLOWS] == ["greeting", "consent", "verify", "some_new_flow"]
    finally:
        engine._FLOWS[:] = saved
