"""Live inbox in a real browser: a new message moves its row to the top and updates it in place, without reload."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.browser.helpers import agent_page
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin
from tests.utils.webchat import Visitor


async def test_a_new_message_moves_the_row_to_the_top_of_an_open_inbox(
    browser: Browser, web_server: Server, web_demo: OrgWithAdmin
) -> None:
    first, second = Visitor(web_server.url), Visitor(web_server.url)
    try:
        await first.open()
        await first.say("first customer")
        await second.open()
        await second.say("second customer")
        agent = await agent_page(browser, web_server.url, web_demo.admin.email)
        rows = agent.locator("#inbox-rows tr")
        await expect(rows.first.locator(".preview")).to_have_text("second customer")
        loads: list[str] = []
        agent.on("load", lambda _page: loads.append("reload"))
        await agent.evaluate("window.__marker = 1")  # gone if the page reloads
        await first.say("first customer again")
        await expect(rows.first.locator(".preview")).to_have_text("first customer again")
        await expect(rows).to_have_count(2)
        await expect(agent).to_have_title("(3) Inbox · INCS Support")  # unread in the tab title: 1 + 2
        third = await Visitor(web_server.url).open()
        try:
            await third.say("a brand new conversation")  # not on the page yet: fetched as one row
            await expect(rows.first.locator(".preview")).to_have_text("a brand new conversation")
            await expect(rows).to_have_count(3)
        finally:
            await third.close()
        assert loads == [] and await agent.evaluate("window.__marker") == 1
    finally:
        await first.close()
        await second.close()


async def test_a_conversation_resolved_elsewhere_leaves_the_open_inbox(
    browser: Browser, web_server: Server, web_demo: OrgWithAdmin
) -> None:
    visitor = await Visitor(web_server.url).open()
    try:
        ack = await visitor.say("please close me")
        agent = await agent_page(browser, web_server.url, web_demo.admin.email)
        row = agent.locator(f"#inbox-rows tr[data-conversation='{ack['message']['conversation_id']}']")
        await expect(row).to_be_visible()
        other = await agent.context.new_page()  # the same agent in a second tab
        await other.goto(f"{web_server.url}/workbench/conversations/{ack['message']['conversation_id']}")
        await other.select_option("#status", "resolved")
        await other.click("#status-form button[type=submit]")
        await expect(row).to_have_count(0)
    finally:
        await visitor.close()
