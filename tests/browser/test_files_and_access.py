"""Defects of issue 14 in a real browser: files (contrast, names, thumbnails, inline), keyboard and labels."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from tests.browser.helpers import CONTRAST_JS, agent_page, customer_page, png
from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin


async def test_customer_file_link_is_readable_and_agent_sees_name_thumbnail_inline(
    browser: Browser, web_server: Server, web_demo: OrgWithAdmin, tmp_path: Path
) -> None:
    base = web_server.url
    customer = await customer_page(browser, base)
    image = tmp_path / "receipt.png"
    image.write_bytes(png())
    await customer.set_input_files("#chat-file", str(image))
    link = customer.locator(".chat-log .msg-in a.file")
    await expect(link).to_contain_text("receipt.png")
    assert await link.evaluate(CONTRAST_JS) >= 4.5  # was blue on blue, 1.0

    agent = await agent_page(browser, base, web_demo.admin.email)
    await agent.click("#inbox a[href^='/workbench/conversations/']")
    file_link = agent.locator("#messages a.file")
    await expect(file_link).to_contain_text("receipt.png")
    await expect(file_link).not_to_contain_text("file #")
    thumb = file_link.locator("img.thumb")
    await expect(thumb).to_have_attribute("alt", "receipt.png")
    await expect(thumb).to_have_js_property("naturalWidth", 4)  # the image loaded (no eval: the page's CSP forbids it)
    response = await agent.request.get(base + str(await file_link.get_attribute("href")))
    assert response.headers["content-disposition"].startswith("inline")
    customer_file = await customer.request.get(base + str(await link.get_attribute("href")))
    assert customer_file.headers["content-disposition"].startswith("inline")


async def test_keyboard_users_attach_files_and_every_control_has_a_name(
    browser: Browser, web_server: Server, web_demo: OrgWithAdmin
) -> None:
    base = web_server.url
    customer = await customer_page(browser, base)
    await expect(customer.get_by_label("Message", exact=True)).to_have_id("chat-input")
    await expect(customer.get_by_label("Attach a photo or file")).to_have_id("chat-file")
    await expect(customer.get_by_role("button", name="Share my location")).to_be_visible()
    # Tab and Space back to back (on a loaded machine the page's own start-up could take the focus in between)
    await customer.focus("#chat-input")
    await customer.keyboard.press("Tab")
    assert await customer.evaluate("document.activeElement.id") == "chat-file"
    async with customer.expect_file_chooser() as chooser:  # the keyboard opens the file picker
        # Space on the control itself: Playwright focuses it again first, should the page's start-up have taken the
        # focus since the Tab (a quiet fresh-clone run pressed Space elsewhere and waited 30 s for the picker)
        await customer.locator("#chat-file").press("Space")
    assert (await chooser.value).element is not None

    agent = await agent_page(browser, base, web_demo.admin.email)
    await agent.click("#inbox a[href^='/workbench/conversations/']")
    await expect(agent.get_by_label("Reply to the customer")).to_have_id("reply-text")
    await expect(agent.get_by_label("Internal note")).to_have_id("note-text")
    await expect(agent.get_by_label("Assignee")).to_have_id("assignee")
    await expect(agent.get_by_label("Status")).to_have_id("status")
