"""An agent takes a request on behalf of the customer from the conversation page: it waits unverified until the
customer passes a fresh identity check, then the clock starts and the customer is told the number and due date.
Bad input (unknown type or ground, a field that does not exist, another organization's conversation) is a 4xx."""

from __future__ import annotations

from sqlalchemy import select

from bot.core.orgs.models import AuditEvent
from bot.core.rights.models import RightsRequest
from tests.conftest import Server
from tests.fakes.smtp import SmtpSink
from tests.flows.helpers import bot_says, start_chat, verify_by_email
from tests.rights.journey import Agent
from tests.utils.factories import OrgWithAdmin, make_org
from tests.utils.webchat import Visitor


async def test_request_on_behalf_waits_for_verification(mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink) -> None:
    visitor = Visitor(mail_server.url)
    try:
        await start_chat(visitor)
        ack = await visitor.say("please delete everything about me")
        conversation_id = ack["message"]["conversation_id"]
        async with Agent(mail_server, org.admin.email) as agent:
            url = f"{mail_server.url}/workbench/conversations/{conversation_id}/rights"
            bad_input = ({"kind": "shred"}, {"kind": "delete", "ground": "because"},
                         {"kind": "correct", "field": "shoesize", "value": "42"})
            for bad in bad_input:
                async with agent.http.post(url, data={"csrf_token": agent.csrf, **bad}, headers={"Accept": "application/json"}) as resp:
                    assert resp.status == 400, bad
            other = await make_org(mail_server.ctx.factory, slug="other")
            async with Agent(mail_server, other.admin.email) as stranger:
                async with stranger.http.post(url, data={"csrf_token": stranger.csrf, "kind": "export"},
                                              headers={"Accept": "application/json"}) as resp:
                    assert resp.status == 404
            async with agent.http.post(url, data={"csrf_token": agent.csrf, "kind": "delete", "ground": "unlawful"},
                                       headers={"Accept": "application/json"}) as resp:
                assert resp.status == 200
                request_id = (await resp.json())["request_id"]
            async with agent.http.get(f"{mail_server.url}/workbench/conversations/{conversation_id}") as resp:
                assert 'id="app-authorizations"' in await resp.text()
            status, page = await agent.page(request_id)
            assert "clock starts when the identity is verified" in page and "on behalf of the customer" in page
            assert (await agent.act(request_id, "confirm"))[0] == 400  # not verified yet
            assert (await agent.act(request_id, "erase"))[0] == 409  # nothing is done before verification
            await verify_by_email(visitor, smtp_sink, "hana@example.com")
            assert (await agent.act(request_id, "confirm"))[0] == 200
            told = await bot_says(visitor, "is registered")
            assert "RR-000001" in told["text"] and "delete my information" in told["text"]
        async with mail_server.ctx.factory() as session:
            request = await session.get(RightsRequest, request_id)
            assert request is not None and request.status == "verified" and request.due_at is not None
            actions = (await session.scalars(select(AuditEvent.action).where(AuditEvent.subject_type == "rights_request"))).all()
            assert actions == ["rights_received", "rights_status"]
    finally:
        await visitor.close()
