"""The export package holds every registered row of the customer (checked against the registry's own SQL for
every table) and nothing of anyone else; its README explains every field; a customer with no data gets an
empty, valid package."""

from __future__ import annotations

import csv
import io
import json
import zipfile

from sqlalchemy import select

from bot.core.conversations.models import Customer
from bot.core.personal_data.fields import describe
from bot.core.personal_data.registry import Owner, customer_entries, table
from bot.core.rights.export import build_export
from bot.core.storage.db import transaction
from tests.conftest import Server
from tests.fakes.smtp import SmtpSink
from tests.rights.people import populate
from tests.utils.factories import OrgWithAdmin


async def _export(server: Server, org: OrgWithAdmin, customer_id: int) -> zipfile.ZipFile:
    seen: list[int] = []

    async def progress(percent: int) -> None:
        seen.append(percent)

    async with server.ctx.factory() as session:
        summary = await build_export(session=session, data_dir=server.ctx.settings.data_dir, org_id=org.org.id,
                                     org_name=org.org.name, customer_id=customer_id, progress=progress)
    assert seen == sorted(seen) and seen[-1] == 100
    return zipfile.ZipFile(summary.path)


async def test_export_has_every_registered_row_and_nothing_of_others(
    mail_server: Server, org: OrgWithAdmin, smtp_sink: SmtpSink
) -> None:
    alice = await populate(mail_server, org, smtp_sink, "alice", 777001)
    bob = await populate(mail_server, org, smtp_sink, "bob", 777002)
    package = await _export(mail_server, org, alice.customer_id)
    owner = Owner(org_id=org.org.id, customer_id=alice.customer_id)
    everything = ""
    async with mail_server.ctx.factory() as session:
        for entry in customer_entries():
            assert entry.owner is not None
            t = table(entry.table)
            key = next(iter(t.primary_key.columns)).name
            expected = sorted(str(v) for v in (await session.scalars(select(t.c[key]).where(entry.owner(owner)))).all())
            rows = json.loads(package.read(f"{entry.table}.json"))
            assert sorted(str(r[key]) for r in rows) == expected, entry.table
            lines = list(csv.reader(io.StringIO(package.read(f"{entry.table}.csv").decode())))
            assert len(lines) == len(rows) + 1
            everything += package.read(f"{entry.table}.json").decode() + package.read(f"{entry.table}.csv").decode()
    assert json.loads(package.read("messages.json")) and json.loads(package.read("outbox.json"))
    assert all(marker in everything for marker in alice.markers)
    assert not [m for m in bob.markers if m in everything]
    files = [n for n in package.namelist() if n.startswith("files/")]
    assert len(files) == 1 and package.read(files[0]) == alice.file_bytes
    readme = package.read("README.md").decode()
    for entry in customer_entries():
        assert f"## {entry.table}" in readme
    assert f"`text`: {describe('messages', 'text')}" in readme
    assert "code_hash" in readme.split("## Withheld")[1] and '"code_hash"' not in everything


async def test_a_customer_with_no_data_gets_an_empty_valid_package(mail_server: Server, org: OrgWithAdmin) -> None:
    async with transaction(mail_server.ctx.factory) as session:
        customer = Customer(org_id=org.org.id)
        session.add(customer)
        await session.flush()
    package = await _export(mail_server, org, customer.id)
    assert package.testzip() is None
    assert len(json.loads(package.read("customers.json"))) == 1
    assert json.loads(package.read("messages.json")) == []
    assert package.read("messages.csv").decode().startswith("id,")
    assert not [n for n in package.namelist() if n.startswith("files/")]
