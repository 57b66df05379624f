"""Stored codes show in the page's language: every action, actor and subject type written to the audit log is one
workbench/codes.py lists (so it has a translation), every context a template names is listed there, and a Chinese
page shows the Chinese word for a status, a type, an audit action, a channel, a message's delivery state (also the
words the page gives its script), the agent's role and a customer's verification method, not the code."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import update

from bot.core.common import clock
from bot.core.conversations.models import Customer
from bot.core.rights.requests import open_request
from bot.core.storage.db import transaction
from bot.pages import environment
from bot.paths import ROOT
from tests.conftest import start_server
from tests.utils.factories import login, make_org
from tests.utils.work_orders import make_customer, sla_settings
from workbench.codes import AUDIT_ACTIONS, AUDIT_DETAIL_KEYS, AUDIT_SUBJECTS, CODES

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}

# The audit log's columns that hold a code, and the context each is shown under.
AUDITED = {"action": AUDIT_ACTIONS, "actor_type": CODES["actor"], "subject_type": AUDIT_SUBJECTS}
Function = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class Writer:
    """A function that writes its `param` (with `prefix` before it) into the audit column."""

    param: str
    prefix: str


def _sources() -> Iterator[tuple[str, ast.Module]]:
    for top in ("bot", "workbench"):
        for path in sorted((ROOT / top).rglob("*.py")):
            yield str(path.relative_to(ROOT)), ast.parse(path.read_text(encoding="utf-8"))


def _calls(tree: ast.Module) -> Iterator[tuple[Function | None, ast.Call]]:
    """Every call, with the function it is written in (None at module level)."""

    def walk(node: ast.AST, inside: Function | None) -> Iterator[tuple[Function | None, ast.Call]]:
        for child in ast.iter_child_nodes(node):
            here = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else inside
            if isinstance(child, ast.Call):
                yield inside, child
            yield from walk(child, here)

    yield from walk(tree, None)


def _name(call: ast.Call) -> str:
    return call.func.id if isinstance(call.func, ast.Name) else call.func.attr if isinstance(call.func, ast.Attribute) else ""


def _params(function: Function | None) -> list[str]:
    if function is None:
        return []
    args = function.args
    return [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]


def _argument(call: ast.Call, function: Function, param: str) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == param:
            return keyword.value
    positional = [a.arg for a in function.args.posonlyargs + function.args.args]
    if param in positional and positional.index(param) < len(call.args):
        return call.args[positional.index(param)]
    return None


def _defaults(function: Function) -> dict[str, ast.expr]:
    args = function.args
    positional = args.posonlyargs + args.args
    named = dict(zip([a.arg for a in positional[len(positional) - len(args.defaults):]], args.defaults, strict=True))
    named.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None})
    return named


def _written(column: str) -> tuple[set[str], list[str]]:
    """The values bot/ and workbench/ write to an audit column: constants (and both sides of `a if c else b`) handed
    to `record`, or to a function that hands its own parameter on to it (`_audit(..., "change_role", ...)`, with the
    parameter's default), with the prefix of an f-string (`f"rights_{action}"`). Also what cannot be read so."""
    sources = list(_sources())
    functions: dict[str, list[Function]] = {}
    constants: dict[str, str] = {}
    for _path, tree in sources:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.setdefault(node.name, []).append(node)
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                constants.update({t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)})
    writers = {"record": Writer(column, "")}

    def argument(call: ast.Call) -> ast.expr | None:
        writer = writers[_name(call)]
        for function in functions[_name(call)]:
            if (found := _argument(call, function, writer.param)) is not None:
                return found
        return None

    def forwarded(expr: ast.expr, inside: Function | None) -> tuple[str, str] | None:
        """(parameter, prefix) when the expression is a parameter of the function it is in, or an f-string of one."""
        if isinstance(expr, ast.Name) and expr.id in _params(inside):
            return expr.id, ""
        if (isinstance(expr, ast.JoinedStr) and len(expr.values) == 2 and isinstance(expr.values[0], ast.Constant)
                and isinstance(expr.values[1], ast.FormattedValue) and isinstance(expr.values[1].value, ast.Name)
                and expr.values[1].value.id in _params(inside)):
            return expr.values[1].value.id, str(expr.values[0].value)
        return None

    changed = True
    while changed:  # a function that hands its parameter on to a writer is a writer too
        changed = False
        for _path, tree in sources:
            for inside, call in _calls(tree):
                if _name(call) in writers and inside is not None and (expr := argument(call)) is not None:
                    if (hand := forwarded(expr, inside)) and inside.name not in writers:
                        writers[inside.name] = Writer(hand[0], writers[_name(call)].prefix + hand[1])
                        changed = True

    def values(expr: ast.expr) -> set[str] | None:
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return {expr.value}
        if isinstance(expr, ast.IfExp):
            body, other = values(expr.body), values(expr.orelse)
            return None if body is None or other is None else body | other
        if isinstance(expr, ast.Name) and expr.id in constants:
            return {constants[expr.id]}
        return None

    found: set[str] = set()
    unread: list[str] = []
    for path, tree in sources:
        for inside, call in _calls(tree):
            if _name(call) not in writers or (expr := argument(call)) is None:
                continue
            if inside is not None and inside.name in writers and forwarded(expr, inside):
                continue  # handed on: counted where this function is called
            read = values(expr)
            if read is None:
                unread.append(f"{path}:{call.lineno} {ast.unparse(expr)}")
            else:
                found |= {writers[_name(call)].prefix + value for value in read}
    for name, writer in writers.items():  # a parameter's default is written when a call leaves it out
        for function in functions.get(name, []):
            if (default := _defaults(function).get(writer.param)) is not None and (read := values(default)) is not None:
                found |= {writer.prefix + value for value in read}
    return found, unread


def test_every_audit_action_written_is_listed() -> None:
    found, unread = _written("action")
    assert unread == []  # an action built at run time: list its family in workbench/codes.py and teach this test
    assert found - set(AUDIT_ACTIONS) == set()
    assert {"rights_status", "rights_extended", "work_order_csat", "change_role", "platform_view_conversation",
            "retention.run"} <= found  # handed on, a default, a positional argument, a module constant


@pytest.mark.parametrize("column", ["actor_type", "subject_type"])
def test_every_actor_and_subject_type_written_is_listed(column: str) -> None:
    found, _unread = _written(column)  # some come from a variable (`actor[0]`); each such value is a literal elsewhere
    assert found and found - set(AUDITED[column]) - {""} == set()


def _detail_keys() -> set[str]:
    """The keys bot/ and workbench/ write to an audit event's detail: those of a dict literal handed to `record`
    (`detail={"ip": ...}`), and the keyword arguments of a call to a function that hands its own `**detail` on to it
    (bot/core/orgs/team.py `_audit(..., before=..., after=...)`, the work orders' `log_event(..., rating=...)`)."""
    sources = list(_sources())
    found: set[str] = set()
    forwarders: dict[str, set[str]] = {}  # a function handing its **kwargs on: its named parameters, not detail keys
    for _path, tree in sources:
        for inside, call in _calls(tree):
            detail = next((k.value for k in call.keywords if k.arg == "detail"), None) if _name(call) == "record" else None
            if detail is None:
                continue
            if isinstance(detail, ast.Dict):
                found |= {key.value for key in detail.keys if isinstance(key, ast.Constant) and isinstance(key.value, str)}
            kwargs = inside.args.kwarg if inside is not None else None
            if inside is not None and kwargs is not None and any(isinstance(n, ast.Name) and n.id == kwargs.arg for n in ast.walk(detail)):
                forwarders[inside.name] = set(_params(inside))
    for _path, tree in sources:
        for _inside, call in _calls(tree):
            if _name(call) in forwarders:
                found |= {k.arg for k in call.keywords if k.arg is not None and k.arg not in forwarders[_name(call)]}
    return found


def test_every_audit_detail_key_written_is_listed() -> None:
    found = _detail_keys()
    assert {"ip", "fields", "before", "rating", "number"} <= found  # a literal; handed on by _audit, by log_event
    assert found - set(AUDIT_DETAIL_KEYS) == {"text"}  # log_event leaves a reply's or a note's text out of the log


def test_every_context_a_template_names_is_registered() -> None:
    used = {match for path in (ROOT / "templates").rglob("*.html")
            for match in re.findall(r"""\|\s*code\(\s*["']([^"']+)["']\s*\)""", path.read_text(encoding="utf-8"))}
    assert used and used - set(CODES) == set()


def test_a_code_shows_in_the_page_language_and_falls_back_to_readable_words() -> None:
    template = '{{ "in_progress"|code("rights request status") }}|{{ "no_such_code"|code("rights request status") }}|{{ none|code("x") }}'
    assert environment("zh").from_string(template).render() == "处理中|no such code|"
    assert environment("en").from_string(template).render() == "in progress|no such code|"


def test_channels_have_english_names_and_delivery_states_show_in_the_page_language() -> None:
    channels = '{{ "webchat"|code("channel") }}|{{ "telegram"|code("channel") }}|{{ "email"|code("channel") }}'
    assert environment("en").from_string(channels).render() == "Web chat|Telegram|Email"  # the English catalogue names them
    assert environment("zh").from_string(channels).render() == "网页聊天|Telegram|电子邮件"
    notice = '{{ _("%(app)s by %(via)s:", app="CRM", via="webhook"|code("channel")) }}'
    assert environment("zh").from_string(notice).render() == "CRM（通过 Webhook）："
    message = {"id": 7, "direction": "out", "author": "agent", "agent_name": "Bo", "created_at": datetime(2026, 3, 2, 9, 0),
               "text": "hi", "latitude": None, "delivery_state": "failed"}
    shown = {locale: environment(locale).get_template("workbench/_message.html").render(m=message) for locale in ("en", "zh")}
    assert '<div class="state" data-state="failed">发送失败</div>' in shown["zh"]  # the attribute keeps the code
    assert '<div class="state" data-state="failed">failed</div>' in shown["en"]


async def test_chinese_pages_show_statuses_types_and_actions_in_chinese(db_url: str, tmp_path: Path,
                                                                         http: aiohttp.ClientSession) -> None:
    clock.set_clock(lambda: datetime(2026, 3, 2, 9, 0))
    server = await start_server(sla_settings(db_url, tmp_path / "data"))
    try:
        demo = await make_org(server.ctx.factory)
        customer, conversation = await make_customer(server.ctx.factory, demo.org.id)
        async with transaction(server.ctx.factory) as session:
            await open_request(session=session, settings=server.ctx.settings, org_id=demo.org.id, customer_id=customer.id,
                               identity_id=None, kind="withdraw_consent")
            await open_request(session=session, settings=server.ctx.settings, org_id=demo.org.id, customer_id=customer.id,
                               identity_id=None, kind="correct", details={"field": "phone", "value": "+86 138 0000 0000"})
            await session.execute(update(Customer).where(Customer.id == customer.id)
                                  .values(verified_at=datetime(2026, 3, 2, 8, 0), verification_method="sms"))
        csrf = await login(http, server.url, demo.admin.email)
        async with http.post(f"{server.url}/workbench/conversations/{conversation.id}/work-orders",
                             data={"csrf_token": csrf, "category": "billing", "description": "Refund"}, allow_redirects=False) as resp:
            assert resp.status == 303

        async def page(path: str, headers: dict[str, str] | None = None) -> str:
            async with http.get(f"{server.url}/workbench/{path}", headers=headers or {}) as resp:
                assert resp.status == 200, path
                return await resp.text()

        listing = await page("work-orders", ZH)
        row = listing[listing.index('data-number="1"'):]
        row = row[:row.index("</tr>")]
        assert ">新建</span>" in row and ">普通</span>" in row and ">new<" not in row  # status and priority
        assert '<option value="pending" >等待回复</option>' in listing  # the filter: the code stays the value
        assert ">new</span>" in await page("work-orders")  # English: the code's own words

        order = await page("work-orders/1", ZH)
        assert ">新建</span>" in order and "已创建（billing，普通）" in order  # the heading; the timeline's priority
        assert "<dt>渠道</dt><dd>网页聊天</dd>" in order and "<dd>Web chat</dd>" in await page("work-orders/1")

        async with http.get(f"{server.url}/workbench", headers=ZH) as resp:
            inbox = await resp.text()
        assert '<span class="channel channel-webchat">网页聊天</span>' in inbox
        thread = await page(f"conversations/{conversation.id}", ZH)
        assert '<span class="channel channel-webchat">网页聊天</span>' in thread  # the customer's channels
        assert 'data-t-delivery-sent="已发送"' in thread and 'data-t-delivery-failed="发送失败"' in thread  # for workbench.js
        assert '<span class="badge ok">已通过短信验证</span>' in thread  # "verified by sms": the method in Chinese
        assert f'<span class="who">{demo.admin.name} · 主管理员</span>' in thread  # the top bar: the agent's role
        assert 'data-t-internal-note="内部备注"' in thread and 'data-t-customer="客户"' in thread  # for workbench.js
        english_thread = await page(f"conversations/{conversation.id}")
        assert 'data-t-delivery-sent="sent"' in english_thread and 'data-t-internal-note="internal note"' in english_thread
        assert '<span class="badge ok">verified by SMS</span>' in english_thread
        assert f'<span class="who">{demo.admin.name} · main admin</span>' in english_thread
        search = await page("search", ZH)
        assert '<option value="webchat" >网页聊天</option>' in search and '<option value="slack" >Slack</option>' in search

        queue = await page("rights?status=all", ZH)
        assert "<td>撤回同意</td><td>已收到</td>" in queue and '<option value="awaiting_customer">等待客户回复</option>' in queue
        assert "<td>withdraw consent</td><td>received</td>" in await page("rights?status=all")
        request_page = await page("rights/1", ZH)
        assert "客户 #" in request_page and "收到请求 → 已收到" in request_page  # the timeline: actor, action, status
        correction = await page("rights/2", ZH)  # what was asked: the keys and the field in Chinese, the value as given
        assert "<dt>请求内容</dt><dd>字段: 电话 新值: +86 138 0000 0000 </dd>" in correction, correction
        assert "<dd>field: phone value: +86 138 0000 0000 </dd>" in await page("rights/2")

        audit = await page("audit", ZH)
        events = audit[audit.index("<tbody>"):]
        assert 'data-action="work_order_created"' in events and "<td>创建工单</td>" in events  # the attribute keeps the code
        assert "<td>登录</td>" in events and "<td>login</td>" not in events
        assert '<option value="login" >登录</option>' in audit
        english = await page("audit")
        assert "<td>work order created</td>" in english and "<td>login</td>" in english
    finally:
        await server.stop()
