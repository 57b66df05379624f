"""The certified badge is in the brand card on Telegram too (the text of the card carries it)."""

from __future__ import annotations

from sqlalchemy import update

from bot.core.orgs.models import Organization
from bot.core.storage.db import transaction
from tests.fakes.telegram_api import FakeTelegram
from tests.utils.factories import make_org

CHAT = 5151


async def test_certified_organizations_brand_card_carries_the_badge(tg_start: object, fake: FakeTelegram) -> None:
    server = await tg_start()  # type: ignore[operator]
    acme = await make_org(server.ctx.factory, slug="acme", name="Acme")
    async with transaction(server.ctx.factory) as session:  # what a platform admin's approval sets
        await session.execute(update(Organization).where(Organization.id == acme.org.id).values(certification_state="certified"))
    fake.push(fake.message(CHAT, "/start org_acme"))
    calls = await fake.wait_for(lambda c: c.method == "sendMessage" and str(c.params.get("text", "")).startswith("<b>Acme"))
    assert calls[0].params["text"].startswith("<b>Acme · ✔ Certified organization</b>")
