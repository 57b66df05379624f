"""Defects of issue 14 in a real browser: scroll position, the Pending status, inline errors, error pages, times."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import Browser, expect

from tests.browser.helpers import agent_page, customer_page
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin
from tests.utils.webchat import Visitor

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


async def test_conversation_opens_at_newest_and_keeps_place_while_reading_older(
    browser: Browser, web_server: Server, web_demo: OrgWithAdmin
) -> None:
    visitor = await Visitor(web_server.url).open()
    try:
        for n in range(40):
            await visitor.say(f"line {n}")
        agent = await agent_page(browser, web_server.url, web_demo.admin.email)
        await agent.click("#inbox a[href^='/workbench/conversations/']")
        thread = agent.locator("#messages")
        await expect(thread).to_contain_text("line 39")
        at_bottom = "el => el.scrollHeight - el.scrollTop - el.clientHeight < 2"
        assert await thread.evaluate("el => el.scrollHeight > el.clientHeight + 200")  # long enough to scroll
        assert await thread.evaluate(at_bottom)
        await thread.evaluate("el => { el.scrollTop = 0; }")
        await visitor.say("a new message while the agent reads older ones")
        await expect(thread).to_contain_text("a new message while the agent reads older ones")
        assert await thread.evaluate("el => el.scrollTop") == 0
        await thread.evaluate("el => { el.scrollTop = el.scrollHeight; }")
        await visitor.say("and one more at the bottom")
        await expect(thread).to_contain_text("and one more at the bottom")
        for _ in range(400):  # the thread follows the new message down (polled here: the page's CSP forbids eval)
            gap = await thread.evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight")
            if gap < 2:
                break
            await asyncio.sleep(0.05)
        assert gap < 2
    finally:
        await visitor.close()


async def test_pending_is_reachable_and_an_empty_reply_is_explained_inline(
    browser: Browser, web_server: Server, web_demo: OrgWithAdmin
) -> None:
    await customer_page(browser, web_server.url, "Where is my parcel?")
    agent = await agent_page(browser, web_server.url, web_demo.admin.email)
    dialogs: list[str] = []
    agent.on("dialog", lambda d: dialogs.append(d.message))
    await agent.click("#inbox a[href^='/workbench/conversations/']")
    await agent.click("#reply-send")
    error = agent.locator("#reply-error")
    await expect(error).to_have_text("Write a reply or attach a file first.")
    await expect(agent.locator("#reply-text")).to_have_attribute("aria-invalid", "true")
    assert dialogs == []
    await agent.select_option("#status", "pending")
    async with agent.expect_navigation():
        await agent.click("#status-form button[type=submit]")
    await expect(agent.locator("#status")).to_have_value("pending")
    await agent.click("nav >> text=Pending")
    await expect(agent.locator("#inbox-rows")).to_contain_text("Where is my parcel?")


async def test_one_styled_error_page_per_audience_and_json_for_json_clients(
    browser: Browser, web_server: Server, web_demo: OrgWithAdmin
) -> None:
    base = web_server.url
    stranger = await (await browser.new_context()).new_page()
    for path in ("/workbench/nothing-here", "/workbench/telegram"):
        response = await stranger.goto(base + path)
        assert response is not None and response.status == 404
        assert "text/html" in response.headers["content-type"]
        await expect(stranger.get_by_role("link", name="Back to the inbox")).to_be_visible()
    customer = await customer_page(browser, base)
    for path in ("/chat?org=no-such-org", "/chat/files/999"):
        response = await customer.goto(base + path)
        assert response is not None and response.status == 404 and "text/html" in response.headers["content-type"]
        await expect(customer.get_by_role("link", name="Open the chat")).to_be_visible()
        await expect(customer.get_by_text("Back to the inbox")).to_have_count(0)
    fresh = await (await browser.new_context()).new_page()  # no visitor cookie
    response = await fresh.goto(base + "/chat/files/1")
    assert response is not None and response.status == 401 and "text/html" in response.headers["content-type"]
    api = await fresh.request.get(base + "/chat/files/1", headers={"Accept": "application/json"})
    assert api.status == 401 and (await api.json())["error"] == "unauthorized"


async def test_times_are_relative_local_and_exact_on_hover(browser: Browser, web_server: Server, web_demo: OrgWithAdmin) -> None:
    customer = await customer_page(browser, web_server.url, "What time is it?", timezone_id="Asia/Shanghai")
    stamp = customer.locator(".chat-log .msg-in time").first
    await expect(stamp).to_have_text(re.compile(r"now|ago|sec"))
    agent = await agent_page(browser, web_server.url, web_demo.admin.email, timezone_id="America/New_York")
    waiting = agent.locator("#inbox-rows time").first
    await expect(waiting).to_have_text(re.compile(r"now|ago|sec"))
    await agent.click("#inbox a[href^='/workbench/conversations/']")
    meta = agent.locator("#messages .msg time").first
    await expect(meta).to_have_text(re.compile(r"now|ago|sec"))
    title = await meta.get_attribute("title")
    iso = await meta.get_attribute("datetime")
    expected = await agent.evaluate("iso => new Date(iso).toLocaleString('en', {dateStyle: 'medium', timeStyle: 'medium'})", iso)
    assert title is not None and title == expected and "UTC" not in title  # the exact time, in the viewer's own timezone
    body = await agent.locator("main").inner_text()
    assert not ISO.search(body)
