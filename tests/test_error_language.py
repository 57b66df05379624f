"""Errors raised in the core reach the reader in their language: the English text is the message key, the catalogues
translate it (values filled in after), on a zh workbench page, in JSON for the reply box, and in the chat's error frame
(in the language the chat shows now, which the customer may have switched)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import aiohttp
from babel.messages.pofile import read_po

from bot.core.common.errors import InvalidInput
from bot.i18n import CATALOGUES, error_text
from bot.paths import ROOT
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin, login
from tests.utils.webchat import Visitor

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
# Where the errors that agents and customers meet on pages and in the chat are raised.
SOURCES = ["bot/core/conversations", "bot/core/search", "bot/core/triage", "bot/core/canned_replies",
           "bot/core/customer_context", "bot/core/widget", "bot/core/inbox", "bot/core/identity", "bot/core/security",
           "bot/core/lockouts", "workbench/auth.py", "workbench/search.py", "workbench/params.py"]
ERRORS = {"InvalidInput", "NotFound", "Conflict", "Forbidden", "RateLimited", "PayloadTooLarge", "UnsupportedMediaType",
          "ServiceUnavailable", "Unauthorized"}


def _calls(paths: list[Path]) -> list[tuple[Path, ast.Call]]:
    return [(path, node) for path in paths for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)]


def _raised_keys() -> dict[str, str]:
    """Every error text raised in SOURCES, and every "no such ..." handed to path_id in the workbench."""
    found: dict[str, str] = {}
    sources = [p for s in SOURCES for p in ((ROOT / s).rglob("*.py") if (ROOT / s).is_dir() else [ROOT / s])]
    for path, call in _calls(sources):
        if isinstance(call.func, ast.Name) and call.func.id in ERRORS and call.args:
            arg = call.args[0]
            if path.name == "params.py" and isinstance(arg, ast.Name):
                continue  # path_id's own raise: its callers' texts are collected below
            assert isinstance(arg, ast.Constant), f"{path}: an error text must be a constant key ({ast.unparse(arg)})"
            found[arg.value] = str(path)
    for path, call in _calls(sorted((ROOT / "workbench").glob("*.py"))):
        if isinstance(call.func, ast.Name) and call.func.id == "path_id" and isinstance(call.args[2], ast.Constant):
            found[call.args[2].value] = str(path)
    return found


def test_every_error_of_the_pages_and_the_chat_has_a_chinese_translation_with_the_same_values() -> None:
    with (CATALOGUES / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = {m.id: m.string for m in read_po(handle, locale="zh") if m.id}
    assert all((ROOT / s).exists() for s in SOURCES)
    keys = _raised_keys()
    assert len(keys) >= 50
    missing = {key: where for key, where in keys.items() if not catalog.get(key)}
    assert missing == {}
    for key in keys:
        assert set(re.findall(r"%\((\w+)\)s", key)) == set(re.findall(r"%\((\w+)\)s", str(catalog[key]))), key


def test_an_error_is_its_key_with_values_in_english_and_translated_in_chinese() -> None:
    error = InvalidInput("the message is longer than %(limit)s characters", limit=4000)
    assert error.message == str(error) == "the message is longer than 4000 characters"
    assert error_text(error, "en") == "the message is longer than 4000 characters"
    assert error_text(error, "zh") == "消息超过 4000 个字符"
    assert error_text(InvalidInput("a text no catalogue has"), "zh") == "a text no catalogue has"


async def test_a_zh_workbench_page_and_the_reply_box_show_core_errors_in_chinese(server: Server, demo: OrgWithAdmin) -> None:
    visitor = await Visitor(server.url).open()
    conversation_id = (await visitor.say("hello"))["message"]["conversation_id"]
    await visitor.close()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), headers=ZH) as http:
        csrf = await login(http, server.url, demo.admin.email)
        async with http.get(f"{server.url}/workbench/search", params={"q": "x" * 300}) as resp:
            page = await resp.text()
        assert resp.status == 400 and "搜索：最多 200 个字符" in page and "at most" not in page
        async with http.post(f"{server.url}/workbench/conversations/{conversation_id}/reply", data={"csrf_token": csrf, "text": " "},
                             headers={"Accept": "application/json"}) as resp:
            body = await resp.json()
        assert resp.status == 400 and body == {"error": "invalid_input", "message": "回复是空的"}
        async with http.get(f"{server.url}/workbench/conversations/999999") as resp:
            assert resp.status == 404 and "没有这个会话" in await resp.text()


async def test_the_chat_shows_a_core_error_in_the_language_it_shows_now(server: Server, demo: OrgWithAdmin) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{server.url}/chat"):
            pass
        async with http.ws_connect(f"{server.url}/chat/ws?lang=zh") as ws:  # the page switched to 中文
            assert (await ws.receive_json(timeout=5))["type"] == "hello"
            await ws.send_json({"type": "text", "text": "x" * 5000, "client_id": "long"})
            error = await ws.receive_json(timeout=5)
            assert error["type"] == "error" and error["client_id"] == "long"
            limit = server.ctx.settings.webchat.max_text_length
            assert error["message"] == f"消息超过 {limit} 个字符"
        async with http.ws_connect(f"{server.url}/chat/ws?lang=en") as ws:
            await ws.receive_json(timeout=5)
            await ws.send_json({"type": "text", "text": " ", "client_id": "empty"})
            assert (await ws.receive_json(timeout=5))["message"] == "the message is empty"
