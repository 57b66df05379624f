"""The agent's daily tools in a real browser: search and saved views, `/` canned replies, keyboard shortcuts with
the `?` overlay, customer details (audited), past conversations, labels, priority and snooze."""

from __future__ import annotations

from datetime import datetime, timedelta

from playwright.async_api import Browser, expect
from sqlalchemy import select, update

from bot.core.common.clock import now, set_clock
from bot.core.conversations.models import Conversation, Customer
from bot.core.orgs.models import AuditEvent
from bot.core.storage.db import transaction
from bot.core.triage import wake_snoozed
from tests.browser.helpers import agent_page, customer_page
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin
from tests.utils.webchat import Visitor


async def test_search_finds_a_message_by_a_word_in_it_and_saves_the_view(
    browser: Browser, web_server: Server, web_demo: OrgWithAdmin
) -> None:
    await customer_page(browser, web_server.url, "The blender arrived with a cracked jug")
    await customer_page(browser, web_server.url, "Where is my invoice?")
    agent = await agent_page(browser, web_server.url, web_demo.admin.email)
    await agent.get_by_role("link", name="Search").click()
    await agent.get_by_label("Words in messages or customer details").fill("cracked")
    await agent.click("#search-go")
    hits = agent.locator("#search-hits li")
    await expect(hits).to_have_count(1)
    await expect(hits.first).to_contain_text("The blender arrived with a cracked jug")
    await agent.get_by_role("checkbox", name="Unread").check()
    await agent.click("#search-go")
    await expect(hits.first).to_contain_text("cracked jug")
    await agent.fill("#view-name", "Broken deliveries")
    await agent.click("form.save-view button")
    await agent.get_by_role("link", name="Broken deliveries").click()
    await expect(agent.locator("#search-q")).to_have_value("cracked")
    await expect(agent.get_by_role("checkbox", name="Unread")).to_be_checked()
    await hits.first.get_by_role("link").click()
    await expect(agent.locator("#messages")).to_contain_text("cracked jug")


async def test_a_saved_view_is_renamed_given_new_filters_and_deleted(
    browser: Browser, web_server: Server, web_demo: OrgWithAdmin
) -> None:
    await customer_page(browser, web_server.url, "My invoice is missing")
    agent = await agent_page(browser, web_server.url, web_demo.admin.email)
    await agent.goto(f"{web_server.url}/workbench/search?q=invoice")
    await agent.fill("#view-name", "Invoices")
    await agent.click("form.save-view button")
    views = agent.locator("#saved-views")
    await views.get_by_role("link", name="Invoices").click()
    await expect(agent.locator("#edit-view-name")).to_have_value("Invoices")
    await agent.get_by_role("checkbox", name="Unread").check()  # change the filters, search, keep editing the view
    await agent.click("#search-go")
    await agent.fill("#edit-view-name", "Unread invoices")
    await agent.click("#edit-view-save")
    await expect(views.get_by_role("link", name="Unread invoices")).to_have_attribute("aria-current", "page")
    await expect(views.get_by_role("link", name="Invoices", exact=True)).to_have_count(0)
    await agent.goto(f"{web_server.url}/workbench/search")
    await views.get_by_role("link", name="Unread invoices").click()
    await expect(agent.locator("#search-q")).to_have_value("invoice")
    await expect(agent.get_by_role("checkbox", name="Unread")).to_be_checked()
    await agent.click("#edit-view-delete")
    await expect(agent.locator("#saved-views")).to_have_count(0)  # no view left
    await expect(agent.locator("#edit-view")).to_have_count(0)


async def test_slash_inserts_a_canned_reply_with_the_customers_name(browser: Browser, web_server: Server, web_demo: OrgWithAdmin) -> None:
    customer = await customer_page(browser, web_server.url, "hi there")
    agent = await agent_page(browser, web_server.url, web_demo.admin.email)
    await agent.get_by_role("link", name="Canned replies").click()
    await agent.fill("#canned-shortcut", "thanks")
    await agent.fill("#canned-text", "Thank you, {customer_name}! {agent_name} from {brand} here.")
    await agent.get_by_role("button", name="Add", exact=True).click()
    await expect(agent.locator("#canned-list")).to_contain_text("/thanks")
    await agent.goto(web_server.url + "/workbench")
    await agent.click("#inbox a[href^='/workbench/conversations/']")
    async with transaction(web_server.ctx.factory) as session:
        await session.execute(update(Customer).values(name="Ada"))
    await agent.reload()
    box = agent.locator("#reply-text")
    await box.press_sequentially("/tha")
    await expect(agent.locator("#canned-menu")).to_contain_text("/thanks")
    await box.press("Enter")
    await expect(box).to_have_value("Thank you, Ada! demo admin from Demo Company here.")
    await box.press("Control+Enter")  # the shortcut sends
    await expect(customer.locator(".chat-log")).to_contain_text("Thank you, Ada! demo admin from Demo Company here.")


async def test_keyboard_shortcuts_and_the_question_mark_overlay(browser: Browser, web_server: Server, web_demo: OrgWithAdmin) -> None:
    await customer_page(browser, web_server.url, "first")
    await customer_page(browser, web_server.url, "second")
    agent = await agent_page(browser, web_server.url, web_demo.admin.email)
    await agent.keyboard.press("?")
    overlay = agent.get_by_role("dialog", name="Keyboard shortcuts")
    await expect(overlay).to_be_visible()
    await expect(overlay).to_contain_text("Assign to me")
    await agent.keyboard.press("Escape")
    await expect(overlay).to_be_hidden()
    await agent.click("#inbox a[href^='/workbench/conversations/']")
    first_id = await agent.locator("#conversation").get_attribute("data-conversation")
    await agent.keyboard.press("j")  # the next (older) conversation
    await expect(agent.locator("#conversation")).not_to_have_attribute("data-conversation", str(first_id))
    await agent.keyboard.press("k")
    await expect(agent.locator("#conversation")).to_have_attribute("data-conversation", str(first_id))
    await agent.keyboard.press("a")
    await expect(agent.locator("#assignee")).to_have_value(str(web_demo.admin.id))
    await agent.keyboard.press("e")
    await expect(agent.locator("#status")).to_have_value("resolved")


async def test_customer_details_are_edited_audited_and_past_conversations_labels_priority_snooze(
    browser: Browser, web_server: Server, web_demo: OrgWithAdmin
) -> None:
    visitor = await Visitor(web_server.url).open()
    try:
        old = await visitor.say("an old question")
        async with transaction(web_server.ctx.factory) as session:
            conv = await session.get(Conversation, old["message"]["conversation_id"])
            assert conv is not None
            conv.status, conv.resolved_at = "resolved", now() - timedelta(days=30)  # long closed: the next message starts anew
        await visitor.say("a new question")
    finally:
        await visitor.close()
    agent = await agent_page(browser, web_server.url, web_demo.admin.email)
    await agent.click("#inbox a[href^='/workbench/conversations/']")
    await expect(agent.locator("#past-conversations")).to_contain_text("an old question")
    await agent.fill("#customer-name", "Grace Hopper")
    await agent.fill("#customer-email", "grace@localhost")  # the browser accepts it; the server explains
    await agent.click("#contact-form button")
    await expect(agent.locator("#contact-form .field-error")).to_have_text("that is not a valid email address")
    await agent.fill("#customer-name", "Grace Hopper")
    await agent.fill("#customer-email", "grace@example.com")
    await agent.fill("#customer-phone", "+1 202 555 0100")
    async with agent.expect_navigation():  # saved: the page loads afresh
        await agent.click("#contact-form button")
    await expect(agent.locator("#customer-phone")).to_have_value("+12025550100")
    await expect(agent.locator("h1")).to_contain_text("Grace Hopper")
    async with web_server.ctx.factory() as session:
        edits = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "edit_customer"))).all()
    assert [sorted(e.detail["fields"]) for e in edits] == [["email", "name", "phone"]]

    await agent.fill("#new-label", "Refund")
    async with agent.expect_navigation():
        await agent.click("text=Add label")
    await expect(agent.locator("#labels")).to_contain_text("refund")
    await agent.select_option("#priority", "urgent")
    async with agent.expect_navigation():
        await agent.click("text=Set priority")
    await expect(agent.locator("#priority")).to_have_value("urgent")
    await agent.fill("#snooze-until", "2099-01-01T09:00")
    async with agent.expect_navigation():
        await agent.click("#snooze-form button")
    await expect(agent.locator("#status")).to_have_value("pending")
    await expect(agent.locator("#snooze-form .snoozed")).to_be_visible()
    set_clock(lambda: datetime(2099, 1, 2))
    async with transaction(web_server.ctx.factory) as session:
        woken = await wake_snoozed(session=session)
    set_clock(None)
    assert len(woken) == 1 and woken[0].status == "open"
