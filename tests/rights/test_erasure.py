"""Delete and cancel: afterwards no table, file or outbox row holds the customer's email, phone, names, external
ids or texts; the other customer is untouched; the audit chain still verifies (with the rows reported erased)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.core.common.errors import NotFound
from bot.core.conversations.models import Customer
from bot.core.orgs.audit import verify_chain
from bot.core.rights.erasure import erase_customer, remove_files
from bot.core.storage.db import transaction
from tests.conftest import Server
from tests.fakes.smtp import SmtpSink
from tests.rights.people import everything_stored, files_under, populate
from tests.utils.factories import OrgWithAdmin, make_org


@pytest.mark.parametrize("cancel", [False, True], ids=["delete", "cancel"])
async def test_erasure_leaves_no_trace_and_keeps_others_and_the_chain(
    mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink, cancel: bool
) -> None:
    alice = await populate(mail_server, org, smtp_sink, "alice", 777001)
    bob = await populate(mail_server, org, smtp_sink, "bob", 777002)
    data_dir = mail_server.ctx.settings.data_dir
    before = await everything_stored(mail_server)
    assert all(marker in before for marker in alice.markers + bob.markers), "the fixture must put every marker somewhere"
    assert alice.file_bytes in files_under(data_dir)

    async with transaction(mail_server.ctx.factory) as session:
        report = await erase_customer(session=session, org_id=org.org.id, customer_id=alice.customer_id, cancel=cancel,
                                      secret_key="k" * 32)
    assert remove_files(data_dir, report.files) == 1
    assert {"messages", "outbox", "channel_identities", "verification_locks", "telegram_chats", "slack_threads"} <= set(report.rows)
    # The chats whose identities went, for the processes' caches of which organization a chat talks to (published
    # by the workbench after the commit): alice's web chat and Telegram chat, not bob's.
    assert {channel for channel, _ in report.chats} == {"webchat", "telegram"} and ("telegram", "777001") in report.chats

    after = await everything_stored(mail_server)
    left = [marker for marker in alice.markers if marker in after]
    assert left == [], f"traces left: {left}\n" + "\n".join(line for line in after.splitlines() if any(m in line for m in left))
    assert all(marker in after for marker in bob.markers)
    assert alice.file_bytes not in files_under(data_dir) and bob.file_bytes in files_under(data_dir)
    async with mail_server.ctx.factory() as session:
        survivor = await session.get(Customer, alice.customer_id)
        assert (survivor is None) is cancel
        chain = await verify_chain(session=session, org_id=org.org.id)
    assert chain.ok, chain
    assert chain.erased > 0


async def test_another_organizations_customer_is_not_found(
    mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink
) -> None:
    alice = await populate(mail_server, org, smtp_sink, "alice", 777001)
    other = await make_org(mail_server.ctx.factory, slug="other")
    with pytest.raises(NotFound):
        async with transaction(mail_server.ctx.factory) as session:
            await erase_customer(session=session, org_id=other.org.id, customer_id=alice.customer_id, cancel=True)
    async with mail_server.ctx.factory() as session:
        assert await session.scalar(select(Customer.email).where(Customer.id == alice.customer_id)) == alice.email
