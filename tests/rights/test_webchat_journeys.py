"""One full journey per request type on web chat: ask in the privacy menu, verify, an agent acts in the
workbench, the customer gets the result in the chat. Plus the bad input of the issue."""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
import zipfile

from sqlalchemy import select

from bot.core.conversations.live import CHATS
from bot.core.conversations.models import Consent, Customer
from bot.core.rights.models import RightsRequest
from bot.web import sign_until
from tests.conftest import SECRET, Server
from tests.fakes.smtp import SmtpSink
from tests.flows.helpers import SkipAhead, bot_says, start_chat
from tests.rights.journey import Agent, ask, press
from tests.rights.people import everything_stored
from tests.utils.factories import OrgWithAdmin, make_org
from tests.utils.webchat import Visitor

EMAIL = "carol@example.com"


async def _visitor(server: Server) -> Visitor:
    visitor = Visitor(server.url)
    await start_chat(visitor)
    await visitor.say("carol-journey-text about my order")
    return visitor


async def test_export_and_review_send_the_package_in_chat_and_by_expiring_link(
    mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink
) -> None:
    visitor = await _visitor(mail_server)
    try:
        number = await ask(visitor, smtp_sink, EMAIL, "export")
        async with Agent(mail_server, org.admin.email) as agent:
            request_id = await agent.request_id(number)
            assert await agent.act(request_id, "export") == (200, {"ok": True, "request_id": request_id})
            ready = await bot_says(visitor, "here is a copy", within=15)
            assert ready["attachment_id"]
            async with visitor.http.get(f"{mail_server.url}/chat/files/{ready['attachment_id']}") as resp:
                assert resp.status == 200
                package = zipfile.ZipFile(io.BytesIO(await resp.read()))
            assert any("carol-journey-text" in r["text"] for r in json.loads(package.read("messages.json")))
            status, page = await agent.page(request_id)
            assert status == 200 and "fulfilled" in page
            link = re.search(r'id="export-link" href="([^"]+)"', page)
            assert link, page
            async with agent.http.get(mail_server.url + link.group(1).replace("&amp;", "&")) as resp:
                assert resp.status == 200 and resp.headers["Content-Type"] == "application/zip"
                assert zipfile.ZipFile(io.BytesIO(await resp.read())).read("README.md")
            stale = sign_until(SECRET, "rights-export", f"{org.org.id}-{request_id}", int(time.time()) - 1)
            async with agent.http.get(f"{mail_server.url}/workbench/rights/{request_id}/download", params={"t": stale}) as resp:
                assert resp.status == 403 and "expired" in await resp.text()
            token = link.group(1).split("t=")[1]
            forged = token[:-1] + ("1" if token[-1] == "0" else "0")  # always differs from the real signature
            async with agent.http.get(f"{mail_server.url}/workbench/rights/{request_id}/download", params={"t": forged}) as resp:
                assert resp.status == 404
            other = await make_org(mail_server.ctx.factory, slug="other")
            async with Agent(mail_server, other.admin.email) as stranger:
                async with stranger.http.get(mail_server.url + link.group(1).replace("&amp;", "&")) as resp:
                    assert resp.status == 404  # another organization's agent, even with the link
                assert (await stranger.page(request_id))[0] == 404
                assert (await stranger.act(request_id, "answer", text="x"))[0] == 404
            review = await ask(visitor, smtp_sink, EMAIL, "review", codes_so_far=1)  # fresh check: no second code
            review_id = await agent.request_id(review)
            assert (await agent.act(review_id, "export"))[0] == 200
            await bot_says(visitor, f"Your request {review} is answered", within=15)
    finally:
        await visitor.close()


async def test_correct_withdraw_authorization_complaint_and_a_repeated_request_denied(
    mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink
) -> None:
    visitor = await _visitor(mail_server)
    try:
        await visitor.say("privacy")
        await press(visitor, "privacy:correct")
        await visitor.say("shoesize: 42")
        await bot_says(visitor, "does not exist")  # a field that does not exist: polite, nothing registered
        number = await ask(visitor, smtp_sink, EMAIL, "correct", text="name: Carol Newname")
        async with Agent(mail_server, org.admin.email) as agent:
            request_id = await agent.request_id(number)
            assert (await agent.act(request_id, "approve"))[0] == 200
            await bot_says(visitor, "your name has been updated")
            async with mail_server.ctx.factory() as session:
                assert await session.scalar(select(Customer.name).where(Customer.email == EMAIL)) == "Carol Newname"

            number = await ask(visitor, smtp_sink, EMAIL, "withdraw_consent", codes_so_far=1)
            assert (await agent.act(await agent.request_id(number), "withdraw_consent"))[0] == 200
            await bot_says(visitor, "consent to policy version 2023-08-17 is withdrawn")
            async with mail_server.ctx.factory() as session:
                consent = await session.scalar(select(Consent).order_by(Consent.id.desc()).limit(1))
                assert consent is not None and consent.granted is False and consent.policy_version == "2023-08-17"

            for kind, text in (("authorization", "stop sharing with the CRM app"), ("complaint", "nobody answered me")):
                number = await ask(visitor, smtp_sink, EMAIL, kind, text=text, codes_so_far=1)
                request_id = await agent.request_id(number)
                status, page = await agent.page(request_id)
                assert text in page
                assert (await agent.act(request_id, "answer", text=f"done: {kind}"))[0] == 200
                await bot_says(visitor, f"done: {kind}")

            again = await ask(visitor, smtp_sink, EMAIL, "complaint", text="nobody answered me", codes_so_far=1)
            request_id = await agent.request_id(again)
            assert "repeated" in (await agent.page(request_id))[1]
            assert (await agent.act(request_id, "fee", text="20 CNY"))[0] == 200
            await bot_says(visitor, "a fee applies: 20 CNY")
            assert "awaiting customer" in (await agent.page(request_id))[1]
            await visitor.say("yes, go ahead")  # the customer's answer restarts the clock
            async with asyncio.timeout(5):
                while "<span class=\"status\">in progress" not in (await agent.page(request_id))[1]:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            assert (await agent.act(request_id, "deny", reason="bogus"))[0] == 400
            assert (await agent.act(request_id, "deny", reason="repeated", text="asked yesterday"))[0] == 200
            await bot_says(visitor, "the same request was made again without a reasonable cause")
            assert (await agent.act(request_id, "answer", text="x"))[0] == 409  # closed
    finally:
        await visitor.close()


async def test_delete_and_cancel_journeys_leave_no_trace(mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink) -> None:
    from bot.core.rights.sweeps import purge_final_notices

    visitor = await _visitor(mail_server)
    try:
        await visitor.say("privacy")
        await press(visitor, "privacy:delete:bogus")
        await bot_says(visitor, "Unknown ground")
        number = await ask(visitor, smtp_sink, EMAIL, "delete", ground="no_consent")
        async with Agent(mail_server, org.admin.email) as agent:
            request_id = await agent.request_id(number)
            assert "collected without" in (await agent.page(request_id))[1] or "no consent" in (await agent.page(request_id))[1]
            changes = mail_server.ctx.hub.subscribe(CHATS)  # every process's cache of chats' organizations hears it
            assert (await agent.act(request_id, "erase"))[0] == 200
            forgotten = await asyncio.wait_for(changes.get(), 5)
            assert forgotten["type"] == "forgotten" and [channel for channel, _ in forgotten["chats"]] == ["webchat"]
            told = await bot_says(visitor, "your information has been deleted")
            assert "Backups may still hold it until 20" in told["text"]
            assert (await agent.act(request_id, "erase"))[0] == 409  # already done
        await _until_purged(mail_server, purge_final_notices)
        stored = await everything_stored(mail_server)
        assert EMAIL not in stored and "carol-journey-text" not in stored
        async with mail_server.ctx.factory() as session:
            tomb = await session.get(RightsRequest, request_id)
            assert tomb is not None and tomb.status == "fulfilled" and tomb.backup_until is not None
    finally:
        await visitor.close()
    visitor = await _visitor(mail_server)  # the same browser may start afresh
    try:
        number = await ask(visitor, smtp_sink, "carol.two@example.com", "cancel")
        async with Agent(mail_server, org.admin.email) as agent:
            request_id = await agent.request_id(number)
            assert (await agent.act(request_id, "extend", text="carol-two-extension-reason"))[0] == 200
            assert (await agent.act(request_id, "ask", text="carol-two-question for you"))[0] == 200
            await bot_says(visitor, "carol-two-question for you")
            assert (await agent.act(request_id, "erase"))[0] == 200
            await bot_says(visitor, "your account cancelled")
            assert (await agent.act(request_id, "erase"))[0] == 409  # a second cancellation of a cancelled account
            status, page = await agent.page(request_id)
            assert status == 200 and "tombstone" in page
        await _until_purged(mail_server, purge_final_notices)
        stored = await everything_stored(mail_server)
        assert "carol.two@example.com" not in stored and "carol-journey-text" not in stored
        assert "carol-two-question" not in stored and "carol-two-extension" not in stored  # what people wrote into the tombstone
        async with mail_server.ctx.factory() as session:
            tomb = await session.get(RightsRequest, request_id)
            assert tomb is not None and tomb.customer_id is None and len(tomb.subject_hash) == 64
    finally:
        await visitor.close()


async def _until_purged(server: Server, purge: object) -> None:
    import asyncio

    from bot.core.delivery.models import OutboxItem

    async with asyncio.timeout(10):
        while True:
            await purge(factory=server.ctx.factory)  # type: ignore[operator]
            async with server.ctx.factory() as session:
                left = await session.scalar(select(OutboxItem.id).where(OutboxItem.idempotency_key.startswith("rights-final:")))
            if left is None:
                return
            await asyncio.sleep(0.05)


async def test_a_stale_identity_check_is_asked_again_and_the_request_resumes(
    mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink
) -> None:
    visitor = await _visitor(mail_server)
    try:
        await ask(visitor, smtp_sink, EMAIL, "review")
        SkipAhead()(hours=mail_server.ctx.settings.verification.freshness_hours + 1)
        number = await ask(visitor, smtp_sink, EMAIL, "export", codes_so_far=1, stale=True)
        async with mail_server.ctx.factory() as session:
            request = await session.scalar(select(RightsRequest).where(RightsRequest.number == int(number[3:])))
            assert request is not None and request.status == "verified" and request.kind == "export"
    finally:
        await visitor.close()
