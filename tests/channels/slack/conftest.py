"""A real server with Slack switched on against the fake Slack Web API, and signed event POSTs."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from slack_sdk.signature import SignatureVerifier

from tests.conftest import Server, make_settings, start_server
from tests.fakes.slack_api import TEAM, FakeSlack
from tests.utils.factories import OrgWithAdmin, make_org

SIGNING_SECRET = "fake-signing-secret-0123456789"


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    fake.users["U0CUST001"] = {"id": "U0CUST001", "name": "mei", "profile": {"real_name": "Mei Lin", "email": "mei@example.com"}}
    yield fake
    await fake.stop()


def slack_settings(db_url: str, data_dir: Path, fake: FakeSlack, **slack: Any) -> Any:
    config = {
        "bot_token": "xoxb-test-token",
        "signing_secret": SIGNING_SECRET,
        "api_base": fake.api_base,
        "team_orgs": {TEAM: "demo"},
        **slack,
    }
    return make_settings(db_url, data_dir, channels={"slack": config})


@pytest.fixture
async def slack_server(db_url: str, tmp_path: Path, fake_slack: FakeSlack) -> AsyncIterator[Server]:
    srv = await start_server(slack_settings(db_url, tmp_path / "data", fake_slack))
    yield srv
    await srv.stop()


@pytest.fixture
async def slack_demo(slack_server: Server) -> OrgWithAdmin:
    return await make_org(slack_server.ctx.factory, slug="demo")


class SlackPoster:
    """Builds requests as Slack sends them: signed with slack_sdk's SignatureVerifier."""

    def __init__(self, http: aiohttp.ClientSession, url: str, secret: str = SIGNING_SECRET) -> None:
        self.http = http
        self.url = url
        self.verifier = SignatureVerifier(secret)

    async def post(
        self,
        body: str,
        content_type: str = "application/json",
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
        secret: str | None = None,
    ) -> tuple[int, str]:
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        verifier = SignatureVerifier(secret) if secret else self.verifier
        signed = {
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": verifier.generate_signature(timestamp=stamp, body=body) or "",
            "Content-Type": content_type,
            **(headers or {}),
        }
        async with self.http.post(f"{self.url}/slack/events", data=body.encode(), headers=signed) as resp:
            return resp.status, await resp.text()

    async def event(self, event: dict[str, Any], event_id: str, team: str = TEAM, **kwargs: Any) -> tuple[int, str]:
        body = {
            "token": "x",
            "team_id": team,
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
            "authorizations": [{"team_id": team, "user_id": "UBOT0001", "is_bot": True}],
        }
        return await self.post(json.dumps(body), **kwargs)

    async def dm(self, user: str, text: str, ts: str, event_id: str, **kwargs: Any) -> tuple[int, str]:
        event = {
            "type": "message",
            "channel": "D" + user[1:],
            "user": user,
            "text": text,
            "ts": ts,
            "channel_type": "im",
            "event_ts": ts,
        }
        return await self.event(event, event_id, **kwargs)

    async def interactive(self, payload: dict[str, Any]) -> tuple[int, str]:
        return await self.post(urlencode({"payload": json.dumps(payload)}), content_type="application/x-www-form-urlencoded")

    async def command(self, user: str, text: str, trigger: str, team: str = TEAM) -> tuple[int, str]:
        form = {
            "token": "x",
            "team_id": team,
            "channel_id": "C1",
            "user_id": user,
            "command": "/support",
            "text": text,
            "trigger_id": trigger,
            "response_url": "https://hooks.slack.com/x",
            "api_app_id": "A0APP",
        }
        return await self.post(urlencode(form), content_type="application/x-www-form-urlencoded")


@pytest.fixture
async def poster(slack_server: Server, http: aiohttp.ClientSession) -> SlackPoster:
    return SlackPoster(http, slack_server.url)
