"""Export and deletion journeys on Slack against the fake Web API: `/support privacy`, the identity check by
email, the agent acts in the workbench, the package arrives by file upload and the deletion notice by
chat.postMessage; afterwards nothing of the Slack user remains."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import SmtpConfig
from bot.core.rights.sweeps import purge_final_notices
from tests.channels.slack.conftest import SlackPoster, fake_slack, slack_settings  # noqa: F401 - fixture
from tests.conftest import Server, start_server
from tests.fakes.slack_api import FakeSlack
from tests.fakes.smtp import SmtpSink
from tests.flows.helpers import code_from_email
from tests.rights.journey import NUMBER, Agent
from tests.rights.people import everything_stored
from tests.utils.factories import make_org

USER, DM = "U0CUST001", "D0CUST001"
EMAIL = "slack-fay@example.com"


@pytest.fixture
async def slack_mail(db_url: str, tmp_path: Path, fake_slack: FakeSlack, smtp_sink: SmtpSink) -> AsyncIterator[Server]:  # noqa: F811
    settings = slack_settings(db_url, tmp_path / "data", fake_slack)
    settings = settings.model_copy(update={"smtp": SmtpConfig(host=smtp_sink.host, port=smtp_sink.port, timeout_seconds=2)})
    server = await start_server(settings)
    yield server
    await server.stop()


def _posts(fake: FakeSlack, fragment: str) -> list[Any]:
    return [c for c in fake.called("chat.postMessage") if fragment in str(c.args.get("text", ""))]


async def _said(fake: FakeSlack, fragment: str, seen: int = 0) -> Any:
    await fake.wait_until(lambda _c: len(_posts(fake, fragment)) > seen, seconds=10)
    return _posts(fake, fragment)[-1]


class Customer:
    def __init__(self, poster: SlackPoster, fake: FakeSlack) -> None:
        self.poster, self.fake, self.n = poster, fake, 0

    async def dm(self, text: str) -> None:
        self.n += 1
        status, _ = await self.poster.dm(USER, text, f"17000000{self.n:02d}.000100", f"EvR{self.n}")
        assert status == 200

    async def press(self, post: Any, value: str) -> None:
        self.n += 1
        button = next(e for b in post.args["blocks"] if b["type"] == "actions" for e in b["elements"] if e["value"] == value)
        status, _ = await self.poster.interactive({
            "type": "block_actions", "team": {"id": "T0TEAM001"}, "user": {"id": USER}, "api_app_id": "A0APP",
            "trigger_id": f"trig{self.n}", "channel": {"id": DM}, "container": {"type": "message", "message_ts": "1"},
            "actions": [{"type": "button", "action_id": button["action_id"], "block_id": "b", "value": value,
                         "text": {"type": "plain_text", "text": value}, "action_ts": f"17000001{self.n:02d}.000200"}]})
        assert status == 200

    async def ask(self, sink: SmtpSink, kind: str, ground: str = "", verify: bool = True) -> str:
        seen = {f: len(_posts(self.fake, f)) for f in ("Your privacy rights", "On which ground", "is registered")}
        self.n += 1
        status, _ = await self.poster.command(USER, "privacy", f"trigcmd{self.n}")
        assert status == 200
        await self.press(await _said(self.fake, "Your privacy rights", seen["Your privacy rights"]), f"privacy:{kind}")
        if ground:
            await self.press(await _said(self.fake, "On which ground", seen["On which ground"]), f"privacy:delete:{ground}")
        if verify:
            await _said(self.fake, "need to confirm who you are")
            await self.dm(EMAIL)
            await self.dm(await code_from_email(sink, EMAIL))
            await self.press(await _said(self.fake, "identity is confirmed"), "privacy:go")
        match = NUMBER.search(str((await _said(self.fake, "is registered", seen["is registered"])).args["text"]))
        assert match
        return match.group(0)


async def test_export_and_delete_on_slack(
    slack_mail: Server, fake_slack: FakeSlack, smtp_sink: SmtpSink, http: aiohttp.ClientSession  # noqa: F811
) -> None:
    org = await make_org(slack_mail.ctx.factory, slug="demo")
    customer = Customer(SlackPoster(http, slack_mail.url), fake_slack)
    await customer.dm("fay-slack-text my invoice is wrong")
    await fake_slack.wait_for("chat.postMessage", 2)  # the greeting: the brand card; the welcome with the notice
    number = await customer.ask(smtp_sink, "export")
    async with Agent(slack_mail, org.admin.email) as agent:
        assert (await agent.act(await agent.request_id(number), "export"))[0] == 200
        await fake_slack.wait_for("files.completeUploadExternal", 1, seconds=15)
        assert fake_slack.uploads and any(content.startswith(b"PK") for content in fake_slack.uploads.values())
        number = await customer.ask(smtp_sink, "delete", ground="unlawful", verify=False)
        assert (result := await agent.act(await agent.request_id(number), "erase"))[0] == 200, result
    told = await _said(fake_slack, "your information has been deleted")
    assert re.search(r"until 20\d\d-\d\d-\d\d", str(told.args["text"]))
    while await purge_final_notices(factory=slack_mail.ctx.factory) == 0:
        await _said(fake_slack, "has been deleted")
    stored = await everything_stored(slack_mail)
    assert USER not in stored and DM not in stored and EMAIL not in stored and "fay-slack-text" not in stored
    assert "mei@example.com" not in stored and "Mei Lin" not in stored
