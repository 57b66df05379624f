"""In a real browser: an organization signs up, applies for certification with its business license, a
platform admin approves, and the customer's chat shows the certified badge in the brand card."""

from __future__ import annotations

from playwright.async_api import Browser, FilePayload, expect

from tests.conftest import Server
from tests.utils.factories import PASSWORD, make_platform_admin


async def test_sign_up_apply_approve_and_the_badge_in_the_chat(browser: Browser, web_server: Server) -> None:
    base = web_server.url
    platform = await make_platform_admin(web_server.ctx.factory)
    owner = await (await browser.new_context()).new_page()
    await owner.goto(f"{base}/workbench/signup")
    await owner.fill("input[name=org_name]", "Blue Harbor Trading")
    await owner.fill("input[name=name]", "Mei")
    await owner.fill("input[name=email]", "mei@blueharbor.example.com")
    await owner.fill("input[name=password]", PASSWORD)
    await owner.click("#signup button[type=submit]")
    await expect(owner.locator("#organization h1")).to_have_text("Blue Harbor Trading")
    await owner.fill("#profile-form textarea[name=profile]", "Ships on time.")
    await owner.fill("#profile-form input[name=website]", "https://blueharbor.example.com")
    await owner.click("#profile-form button[type=submit]")
    await owner.fill("#certification-form input[name=legal_name]", "Blue Harbor Trading Co., Ltd.")
    await owner.fill("#certification-form input[name=address]", "88 Harbor Road")
    await owner.set_input_files("#certification-form input[name=license]",
                                files=[FilePayload(name="license.pdf", mimeType="application/pdf", buffer=b"%PDF-1.4 license")])
    await owner.click("#certification-form button[type=submit]")
    await expect(owner.locator("#certification-state")).to_have_text("State: submitted")

    reviewer = await (await browser.new_context()).new_page()
    await reviewer.goto(f"{base}/workbench/login")
    await reviewer.fill("input[name=email]", platform.email)
    await reviewer.fill("input[name=password]", PASSWORD)
    await reviewer.click("button[type=submit]")
    await reviewer.click("#platform a:text('Blue Harbor Trading')")
    await expect(reviewer.locator("#application")).to_contain_text("Blue Harbor Trading Co., Ltd.")
    await reviewer.click("#approve-form button[type=submit]")
    await expect(reviewer.locator("#application-state")).to_have_text("approved")

    await owner.reload()
    await expect(owner.locator("#certified-badge")).to_be_visible()
    customer = await (await browser.new_context()).new_page()
    await customer.goto(f"{base}/chat?org=blue-harbor-trading")
    await expect(customer.locator("#chat-status")).to_have_text("online")
    await customer.fill("#chat-input", "Hello")
    await customer.click("#chat-send")
    card = customer.locator(".brand-card")
    await expect(card.locator(".brand")).to_have_text("Blue Harbor Trading")
    await expect(card.locator(".badge.certified")).to_have_text("✔ Certified")
    await expect(card.locator(".profile")).to_have_text("Ships on time.")
