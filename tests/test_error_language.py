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
from tests.fakes.smtp import SmtpSink, smtp_sink  # noqa: F401 - fixture
from tests.flows.conftest import mail_server, org  # noqa: F401 - fixtures
from tests.flows.helpers import bot_says, code_from_email
from tests.rights.journey import press
from tests.utils.factories import PASSWORD, OrgWithAdmin, csrf_from, login
from tests.utils.webchat import Visitor
from tests.utils.work_orders import make_customer

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
# Where the errors that agents, admins and customers meet on pages and in the chat are raised: every module of these.
SOURCES = ("bot/core", "bot/flows", "bot/channels/webchat", "workbench")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _modules(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def _error_classes() -> tuple[set[str], set[str]]:
    """Every DomainError subclass defined in the project (by name, from the class statements), and those of them whose
    constructor takes no text (`Locked(until)`, `ServiceOff(key)`): their own `super().__init__` gives the key."""
    bases: dict[str, set[str]] = {}
    own_init: dict[str, list[str]] = {}
    for path in _modules("bot", "workbench"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases.setdefault(node.name, set()).update(ast.unparse(b).rpartition(".")[2] for b in node.bases)
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                        own_init[node.name] = [a.arg for a in item.args.args[1:]]
    errors = {"DomainError"}
    while grown := {name for name, parents in bases.items() if parents & errors} - errors:
        errors |= grown
    keyless = {name for name in errors if name in own_init and own_init[name][:1] != ["message"]}
    return errors, keyless


ERRORS, KEYLESS = _error_classes()


def _texts(node: ast.expr, names: dict[str, ast.expr]) -> list[str] | None:
    """Every text an error's argument can be: a constant, a module constant, either branch of `a if c else b`, any
    value of a module-level dict of constants (`TEXTS[field]`, `TEXTS.get(field, default)`); None for anything else
    (an f-string, a concatenation, a str() of something)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in names:
        return _texts(names[node.id], names)
    if isinstance(node, ast.IfExp):
        body, orelse = _texts(node.body, names), _texts(node.orelse, names)
        return None if body is None or orelse is None else body + orelse
    if isinstance(node, ast.Dict):
        values = [_texts(v, names) for v in node.values]
        return None if any(v is None for v in values) else [t for v in values if v for t in v]
    if isinstance(node, ast.Subscript):
        return _texts(node.value, names)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and len(node.args) == 2):
        table, default = _texts(node.func.value, names), _texts(node.args[1], names)
        return None if table is None or default is None else table + default
    return None


def _module_names(tree: ast.Module) -> dict[str, ast.expr]:
    names: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            names[node.targets[0].id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            names[node.target.id] = node.value
    return names


def _error_argument(path: Path, tree: ast.Module) -> list[tuple[ast.expr, int]]:
    """The text argument of every error raised in a module (what path_id is handed counts as one)."""
    found: list[tuple[ast.expr, int]] = []
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name in KEYLESS):
        for call in (n for n in ast.walk(cls) if isinstance(n, ast.Call)):
            func = call.func
            if isinstance(func, ast.Attribute) and func.attr == "__init__" and ast.unparse(func.value) == "super()" and call.args:
                found.append((call.args[0], call.lineno))
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        name = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
        if name in ERRORS and name not in KEYLESS and call.args:
            if path.name == "params.py" and isinstance(call.args[0], ast.Name) and call.args[0].id == "not_found":
                continue  # path_id's own raise: its callers' texts are collected below
            found.append((call.args[0], call.lineno))
        elif name == "path_id" and path.parent.name == "workbench" and len(call.args) == 3:
            found.append((call.args[2], call.lineno))
    return found


def _raised_keys() -> dict[str, str]:
    """Every error text raised in SOURCES (each must be a constant key), and where."""
    found: dict[str, str] = {}
    loose: list[str] = []
    for path in _modules(*SOURCES):
        tree = ast.parse(path.read_text())
        names = _module_names(tree)
        for argument, line in _error_argument(path, tree):
            where = f"{path.relative_to(ROOT)}:{line}"
            texts = _texts(argument, names)
            if texts is None:
                loose.append(f"{where}: {ast.unparse(argument)}")
            found.update((text, where) for text in texts or ())
    assert loose == [], "an error text must be a constant key with %(name)s values"
    return found


def _catalogue(locale: str) -> dict[str, str]:
    with (CATALOGUES / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return {str(m.id): str(m.string) for m in read_po(handle, locale=locale) if m.id}


def test_every_domain_error_class_is_checked() -> None:
    base = {"InvalidInput", "NotFound", "Conflict", "Forbidden", "RateLimited", "PayloadTooLarge", "UnsupportedMediaType",
            "ServiceUnavailable", "Unauthorized"}
    assert base | {"ServiceOff", "Locked", "WrongCode", "NoActiveCode", "CodeExpired"} <= ERRORS
    assert {"ServiceOff", "Locked", "WrongCode"} <= KEYLESS and not base & KEYLESS


def test_every_error_of_the_pages_and_the_chat_has_a_chinese_translation_with_the_same_values() -> None:
    zh, en = _catalogue("zh"), _catalogue("en")
    keys = _raised_keys()
    assert len(keys) >= 200
    assert {key: where for key, where in keys.items() if not zh.get(key)} == {}
    assert {key: where for key, where in keys.items() if key not in en} == {}  # the English catalogue lists every key
    wrong = {key: zh[key] for key in keys if set(PLACEHOLDER.findall(key)) != set(PLACEHOLDER.findall(zh[key]))}
    assert wrong == {}


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


async def test_work_order_and_sign_up_refusals_read_in_chinese_on_zh_pages(server: Server, demo: OrgWithAdmin) -> None:
    _customer, conversation = await make_customer(server.ctx.factory, demo.org.id)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), headers=ZH) as http:
        async with http.get(f"{server.url}/workbench/signup") as resp:
            token = csrf_from(await resp.text())
        form = {"org_name": "DEMO company", "name": "Ada", "email": "ada@acme.example.com", "password": PASSWORD,
                "csrf_token": token}
        async with http.post(f"{server.url}/workbench/signup", data=form, allow_redirects=False) as resp:
            assert resp.status == 409 and "已存在同名组织" in await resp.text()
        csrf = await login(http, server.url, demo.admin.email)
        base = f"{server.url}/workbench"
        async with http.post(f"{base}/conversations/{conversation.id}/work-orders", allow_redirects=False,
                             data={"csrf_token": csrf, "category": "billing", "description": "Refund order 77"}) as resp:
            assert resp.status == 303
        async with http.post(f"{base}/work-orders/1/status", data={"csrf_token": csrf, "status": "closed"}) as resp:
            page = await resp.text()
        assert resp.status == 409 and "WO-000001 当前为 new，只能改为：open, pending, resolved" in page and "can go to" not in page
        async with http.post(f"{base}/work-orders/1/note", data={"csrf_token": csrf, "text": " "},
                             headers={"Accept": "application/json"}) as resp:
            assert resp.status == 400 and await resp.json() == {"error": "invalid_input", "message": "备注：请先填写内容"}


async def test_the_privacy_menu_tells_a_zh_customer_a_rights_refusal_in_chinese(
    mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink  # noqa: F811 - fixtures
) -> None:
    visitor = Visitor(mail_server.url, http=aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), headers=ZH))
    await visitor.open()
    try:
        await visitor.say("你好")
        await visitor.say("隐私")
        await press(visitor, "privacy:correct")
        await visitor.say("shoesize: 42")
        await bot_says(visitor, "该字段不存在，或新值为空。 未登记任何请求")
        await press(visitor, "privacy:app:999999:on")  # an app that does not exist, after the identity check
        await bot_says(visitor, "确认您的身份")
        await visitor.say("carol@example.com")
        await visitor.say(await code_from_email(smtp_sink, "carol@example.com"))
        await bot_says(visitor, "您的身份已确认")
        await press(visitor, "privacy:go")
        refused = await bot_says(visitor, "未登记任何请求")
        assert refused["text"].startswith("没有这个应用"), refused
    finally:
        await visitor.close()


async def test_the_sign_in_page_refuses_a_wrong_password_in_chinese(server: Server, demo: OrgWithAdmin) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), headers=ZH) as http:
        async with http.get(f"{server.url}/workbench/login") as resp:
            token = csrf_from(await resp.text())
        form = {"email": demo.admin.email, "password": "not the password", "csrf_token": token}
        async with http.post(f"{server.url}/workbench/login", data=form, allow_redirects=False) as resp:
            page = await resp.text()
        assert resp.status == 401 and "邮箱或密码错误。" in page and "Wrong email" not in page
