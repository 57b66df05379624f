"""Defects of issue 14 in a real browser: the chat and workbench in the customer's / agent's language (the words
the workbench's script draws too), phones, the notifications page and the lockouts link."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.browser.helpers import agent_page, customer_page
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


async def test_chat_follows_the_browser_language_and_the_customers_choice(
    browser: Browser, web_server: Server, web_demo: OrgWithAdmin
) -> None:
    chinese = await customer_page(browser, web_server.url, "你好", locale="zh-CN")
    await expect(chinese.locator("html")).to_have_attribute("lang", "zh")
    await expect(chinese.locator("#chat-send")).to_have_text("发送")
    await expect(chinese.locator("#chat-input")).to_have_attribute("placeholder", "输入消息…")
    await expect(chinese.get_by_role("button", name="我同意")).to_be_visible()  # the bot speaks the browser's language too

    english = await customer_page(browser, web_server.url, "language", locale="en-US")
    await expect(english.locator("html")).to_have_attribute("lang", "en")
    await english.get_by_role("button", name="中文").click()
    await expect(english.locator(".chat-log")).to_contain_text("语言已设置为中文")
    await expect(english.locator("html")).to_have_attribute("lang", "zh")
    await expect(english.locator("#chat-send")).to_have_text("发送")
    await expect(english.get_by_label("发送照片或文件")).to_have_id("chat-file")
    await english.reload()  # the choice is the customer's, kept on the server
    await expect(english.locator("html")).to_have_attribute("lang", "zh")
    await expect(english.locator("#chat-status")).to_have_text("在线")


async def test_workbench_in_chinese_for_a_chinese_browser(browser: Browser, web_server: Server, web_demo: OrgWithAdmin) -> None:
    await customer_page(browser, web_server.url, "hello")
    agent = await agent_page(browser, web_server.url, web_demo.admin.email, locale="zh-CN")
    await expect(agent.locator("html")).to_have_attribute("lang", "zh")
    await expect(agent.locator("nav")).to_contain_text("待处理")
    await expect(agent.get_by_role("button", name="退出登录")).to_be_visible()
    await agent.click("#inbox a[href^='/workbench/conversations/']")
    await expect(agent.get_by_label("回复客户")).to_have_id("reply-text")
    await expect(agent.locator("#messages time").first).to_have_text("现在")


async def test_chinese_workbench_names_the_channel_and_the_delivery_state_the_script_draws(
    browser: Browser, web_server: Server, web_demo: OrgWithAdmin
) -> None:
    customer = await customer_page(browser, web_server.url, "你好", locale="zh-CN")
    agent = await agent_page(browser, web_server.url, web_demo.admin.email, locale="zh-CN")
    await expect(agent.locator("#inbox .channel-webchat").first).to_have_text("网页聊天")
    await agent.click("#inbox a[href^='/workbench/conversations/']")
    await expect(agent.locator(".identities .channel-webchat")).to_have_text("网页聊天")
    await agent.fill("#reply-text", "您好")
    await agent.click("#reply-send")
    await expect(customer.locator(".chat-log")).to_contain_text("您好")
    state = agent.locator("#messages .msg-out .state").last  # drawn by workbench.js (the reply's answer, then the socket)
    await expect(state).to_have_attribute("data-state", "sent")
    await expect(state).to_have_text("已发送")


async def test_chinese_workbench_script_draws_a_live_message_with_the_pages_words(
    browser: Browser, web_server: Server, web_demo: OrgWithAdmin
) -> None:
    customer = await customer_page(browser, web_server.url, "你好", locale="zh-CN")
    agent = await agent_page(browser, web_server.url, web_demo.admin.email, locale="zh-CN")
    await agent.click("#inbox a[href^='/workbench/conversations/']")
    await expect(agent.locator("#messages .author-customer").first).to_contain_text("客户")  # drawn by the server
    await agent.evaluate("window.stayed = true")  # gone if the page reloads: what follows is drawn by workbench.js
    await customer.fill("#chat-input", "第二条")
    await customer.click("#chat-send")
    second = agent.locator("#messages .author-customer", has_text="第二条")
    await expect(second.locator(".meta")).to_contain_text("客户 · ")
    await agent.evaluate("""() => fetch(document.querySelector(".note").action, {
        method: "POST", credentials: "same-origin", body: new URLSearchParams({text: "内部看"}),
        headers: {"Accept": "application/json", "X-CSRF-Token": document.body.dataset.csrf}})""")
    note = agent.locator("#messages .msg-note", has_text="内部看").locator(".meta")  # came by the socket
    await expect(note).to_contain_text(" · 内部备注")
    await expect(note).not_to_contain_text("internal note")
    # A customer's edit, then deletion, as the channels publish them (bot/channels/telegram, slack): the marks too.
    message_id = int(await second.get_attribute("data-id") or 0)
    conversation_id = int(agent.url.rstrip("/").rsplit("/", 1)[-1])
    edited = {"id": message_id, "text": "第二条（改）", "edited": True}
    await web_server.ctx.hub.publish(f"conv:{conversation_id}", {"type": "message_edited", "message": edited})
    await expect(second.locator(".text")).to_have_text("第二条（改）")
    await expect(second.locator(".meta")).to_contain_text(" · 已编辑")
    deleted = {**edited, "deleted": True}
    await web_server.ctx.hub.publish(f"conv:{conversation_id}", {"type": "message_edited", "message": deleted})
    await expect(second.locator(".meta .deleted")).to_have_text("客户已删除")
    assert await agent.evaluate("window.stayed === true")


async def test_workbench_fits_a_390px_phone(browser: Browser, web_server: Server, web_demo: OrgWithAdmin) -> None:
    await customer_page(browser, web_server.url, "A long first message " * 8)
    agent = await agent_page(browser, web_server.url, web_demo.admin.email, **PHONE)
    fits = "document.documentElement.scrollWidth <= window.innerWidth"
    assert await agent.evaluate(fits)
    sign_out = await agent.get_by_role("button", name="Sign out").bounding_box()
    assert sign_out is not None and sign_out["x"] >= 0 and sign_out["x"] + sign_out["width"] <= 390
    await agent.click("#inbox a[href^='/workbench/conversations/']")
    assert await agent.evaluate(fits)
    sidebar = await agent.locator(".sidebar").bounding_box()
    assert sidebar is not None and sidebar["x"] >= 0 and sidebar["x"] + sidebar["width"] <= 390
    await agent.goto(web_server.url + "/workbench/notifications")
    assert await agent.evaluate(fits)


async def test_notifications_page_speaks_words_and_lockouts_are_in_the_navigation(
    browser: Browser, web_server: Server, web_demo: OrgWithAdmin
) -> None:
    agent = await agent_page(browser, web_server.url, web_demo.admin.email)
    await agent.get_by_role("link", name="Lockouts").click()
    await expect(agent.locator("h1")).to_have_text("Identity-check lockouts")
    await agent.get_by_role("link", name="Notifications").click()
    form = agent.locator("form.preferences")
    await expect(form.get_by_label("A customer is waiting")).to_be_visible()
    await expect(form).not_to_contain_text("conversation_waiting")
    rows = [await agent.locator(sel).bounding_box() for sel in (".quiet-hours", ".preferences .digest", ".preferences .language")]
    tops = [box["y"] for box in rows if box is not None]
    assert len(tops) == 3 and tops[0] < tops[1] < tops[2]  # quiet hours, digest and language each on their own line
