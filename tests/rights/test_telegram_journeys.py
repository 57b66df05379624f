"""Export and deletion journeys on Telegram against the fake Bot API: /privacy (in the command menu), the
identity check by email, the agent acts in the workbench, the package arrives by sendDocument and the
deletion notice by sendMessage; afterwards nothing of the chat remains."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import SmtpConfig
from bot.core.rights.sweeps import purge_final_notices
from tests.channels.telegram.conftest import fake, tg_settings  # noqa: F401 - fixture
from tests.conftest import Server, start_server
from tests.fakes.smtp import SmtpSink
from tests.fakes.telegram_api import FakeTelegram
from tests.flows.helpers import code_from_email
from tests.rights.journey import NUMBER, Agent
from tests.rights.people import everything_stored
from tests.utils.factories import make_org

CHAT = 987654321
EMAIL = "tg-erin@example.com"


@pytest.fixture
async def tg_mail(db_url: str, tmp_path: Path, fake: FakeTelegram, smtp_sink: SmtpSink) -> AsyncIterator[Server]:  # noqa: F811
    settings = tg_settings(db_url, tmp_path / "data", fake)
    settings = settings.model_copy(update={"smtp": SmtpConfig(host=smtp_sink.host, port=smtp_sink.port, timeout_seconds=2)})
    server = await start_server(settings)
    yield server
    await server.stop()


async def _said(api: FakeTelegram, fragment: str, seen: int = 0) -> Any:
    """The newest bot message containing fragment, once more than `seen` of them exist."""
    def match(c: Any) -> bool:
        return c.method == "sendMessage" and c.chat == str(CHAT) and fragment in str(c.params.get("text"))

    await api.wait_for(lambda _c: len([c for c in api.calls if match(c)]) > seen)
    return [c for c in api.calls if match(c)][-1]


def _count(api: FakeTelegram, fragment: str) -> int:
    return len([c for c in api.calls if c.method == "sendMessage" and fragment in str(c.params.get("text"))])


def _press(api: FakeTelegram, call: Any, data: str) -> None:
    api.push({"callback_query": {"id": f"cb-{data}", "from": {"id": CHAT, "is_bot": False, "first_name": "Erin"},
                                 "chat_instance": "x", "data": data,
                                 "message": {**call.result, "reply_markup": call.params["reply_markup"]}}})


async def _ask(api: FakeTelegram, sink: SmtpSink, kind: str, ground: str = "", verify: bool = True) -> str:
    seen = {f: _count(api, f) for f in ("Your privacy rights", "On which ground", "is registered")}
    api.push(api.message(CHAT, "/privacy"))
    menu = await _said(api, "Your privacy rights", seen["Your privacy rights"])
    _press(api, menu, f"privacy:{kind}")
    if ground:
        _press(api, await _said(api, "On which ground", seen["On which ground"]), f"privacy:delete:{ground}")
    if verify:
        await _said(api, "need to confirm who you are")
        api.push(api.message(CHAT, EMAIL))
        api.push(api.message(CHAT, await code_from_email(sink, EMAIL)))
        _press(api, await _said(api, "identity is confirmed"), "privacy:go")
    match = NUMBER.search(str((await _said(api, "is registered", seen["is registered"])).params["text"]))
    assert match
    return match.group(0)


async def test_export_and_delete_on_telegram(tg_mail: Server, fake: FakeTelegram, smtp_sink: SmtpSink) -> None:  # noqa: F811
    org = await make_org(tg_mail.ctx.factory, slug="demo")
    menus = await fake.wait_for(lambda c: c.method == "setMyCommands")
    assert "privacy" in [c["command"] for c in menus[0].params["commands"]]
    fake.push(fake.message(CHAT, "/start"))
    await _said(fake, "")
    fake.push(fake.message(CHAT, "erin-telegram-text where is my parcel"))
    number = await _ask(fake, smtp_sink, "export")
    async with Agent(tg_mail, org.admin.email) as agent:
        assert (await agent.act(await agent.request_id(number), "export"))[0] == 200
        document = await fake.wait_for(lambda c: c.method == "sendDocument" and c.chat == str(CHAT))
        assert "here is a copy" in str(document[-1].params.get("caption", "")) or await _said(fake, "here is a copy")
        number = await _ask(fake, smtp_sink, "delete", ground="purpose_done", verify=False)
        assert (result := await agent.act(await agent.request_id(number), "erase"))[0] == 200, result
    told = await _said(fake, "your information has been deleted")
    assert re.search(r"until 20\d\d-\d\d-\d\d", str(told.params["text"]))
    while await purge_final_notices(factory=tg_mail.ctx.factory) == 0:
        await fake.wait_for(lambda c: c.method == "sendMessage" and "has been deleted" in str(c.params.get("text")))
    stored = await everything_stored(tg_mail)
    assert str(CHAT) not in stored and EMAIL not in stored and "erin-telegram-text" not in stored
