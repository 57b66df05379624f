"""Greetings are rendered once per organization, language and policy version, and never served stale: a changed
profile or a newly published policy version shows in the next new chat's greeting."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.core.notices.policy import publish
from bot.core.orgs.models import Agent
from bot.core.orgs.profile import update_profile
from bot.core.storage.db import transaction
from bot.flows import greeting
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin, make_platform_admin
from tests.utils.webchat import Visitor


async def _greeted(server: Server) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new chat's greeting: the brand card, then the welcome with the privacy notice and its buttons."""
    visitor = await Visitor(server.url).open()
    try:
        await visitor.say("hello")
        card = await visitor.wait_message(lambda m: m.get("reply_kind") == "brand_card")
        notice = await visitor.wait_message(lambda m: m.get("reply_kind") == "notice")
    finally:
        await visitor.close()
    return card, notice


def _cached(org_id: int) -> list[tuple[Any, ...]]:
    return [key for key in greeting._GREETINGS if key[0] == org_id]


async def test_new_chats_share_one_rendered_greeting_until_the_profile_or_the_policy_changes(
    server: Server, demo: OrgWithAdmin
) -> None:
    greeting._GREETINGS.clear()  # the cache is the process's: earlier tests' organizations may share this id
    first = await _greeted(server)
    second = await _greeted(server)
    assert [m["text"] for m in first] == [m["text"] for m in second]
    assert second[1]["buttons"] == [["I agree", "consent:yes:0"], ["No, thanks", "consent:no:0"]]
    assert len(_cached(demo.org.id)) == 1, "the second new chat's greeting was rendered again"

    async with transaction(server.ctx.factory) as session:
        admin = await session.scalar(select(Agent).where(Agent.id == demo.admin.id))
        assert admin is not None
        await update_profile(session=session, actor=admin, values={"profile": "Open every day, 8 to 20"})
    card, notice = await _greeted(server)
    assert "Open every day, 8 to 20" in card["text"] and card["data"]["profile"] == "Open every day, 8 to 20"
    assert notice["text"] == first[1]["text"]

    platform = await make_platform_admin(server.ctx.factory)
    async with transaction(server.ctx.factory) as session:
        await publish(session=session, actor=platform, version="2099-01", summary="Shorter retention.", major=False)
    _, notice = await _greeted(server)
    assert "(version 2099-01)" in notice["text"]
    assert len(_cached(demo.org.id)) == 3
