"""Orphan attachments: rows nothing refers to and files no row names go after the grace period, with real files
on disk; everything referenced, and everything younger, stays."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

import bot.all_models  # noqa: F401 - every table the sweep must honour is known
from bot.config import Settings
from bot.core.common import clock
from bot.core.conversations.customers import resolve_identity
from bot.core.conversations.models import Customer
from bot.core.conversations.orphans import GRACE, SWEEP_JOB, reference_columns, sweep_orphan_attachments
from bot.core.conversations.replies import reply_as_agent
from bot.core.conversations.threads import open_conversation_for
from bot.core.files.attachments import store_attachment
from bot.core.files.models import Attachment
from bot.core.orgs.models import Organization
from bot.core.storage.base import Base
from bot.core.storage.db import SessionFactory, create_engine, session_factory, transaction
from bot.core.work_orders.services import open_work_order
from tests.conftest import make_settings
from tests.utils.factories import make_org


@pytest.fixture
async def factory(db_url: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(db_url)
    yield session_factory(engine)
    await engine.dispose()


class Clock:
    """Starts at the real time (file ages are real modification times), then moves on at will."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(tzinfo=None)
        clock.set_clock(lambda: self.now)

    def advance(self, delta: timedelta) -> None:
        self.now += delta


async def _file(factory: SessionFactory, data: Path, org_id: int, name: str) -> Attachment:
    async with transaction(factory) as session:
        return await store_attachment(session=session, data_dir=data, org_id=org_id, customer_id=None, filename=name,
                                      mime_type="application/pdf", content=f"%PDF-1.4 {name}".encode())


async def test_old_orphans_go_with_their_files_and_referenced_or_young_ones_stay(
    factory: SessionFactory, db_url: str, tmp_path: Path
) -> None:
    time_now = Clock()
    data = tmp_path / "data"
    demo = await make_org(factory, slug="demo")
    org_id = demo.org.id
    never_sent = await _file(factory, data, org_id, "upload-without-message.pdf")  # the upload whose message never came
    in_message = await _file(factory, data, org_id, "sent.pdf")
    logo = await _file(factory, data, org_id, "logo.pdf")
    in_work_order = await _file(factory, data, org_id, "work-order-only.pdf")
    async with transaction(factory) as session:
        identity = (await resolve_identity(session=session, org_id=org_id, channel="webchat", external_id="v1")).identity
        conversation, _ = await open_conversation_for(session=session, identity=identity)
        await reply_as_agent(session=session, conversation=conversation, agent=demo.admin, text="", attachment_id=in_message.id)
        org = await session.get(Organization, org_id)
        assert org is not None
        org.logo_attachment_id = logo.id
        customer = await session.get(Customer, identity.customer_id)
        assert customer is not None
        await open_work_order(session=session, settings=make_settings(db_url, data), customer=customer, category="billing",
                              description="see the file", attachment_ids=[in_work_order.id])
    rowless = data / "attachments" / str(org_id) / "ff" / "left-by-a-rolled-back-upload"  # a file whose row never committed
    rowless.parent.mkdir(parents=True, exist_ok=True)
    rowless.write_bytes(b"no row names me")
    elsewhere = data / "exports" / "1" / "package.zip"  # not attachment storage: never looked at
    elsewhere.parent.mkdir(parents=True, exist_ok=True)
    elsewhere.write_bytes(b"zip")

    time_now.advance(GRACE + timedelta(hours=1))
    young = await _file(factory, data, org_id, "uploaded-a-moment-ago.pdf")  # its message may still come
    young_rowless = data / "attachments" / str(org_id) / "ee" / "being-written"
    young_rowless.parent.mkdir(parents=True, exist_ok=True)
    young_rowless.write_bytes(b"in flight")
    future = time.time() + 2 * 3600  # as young as the grace period allows, measured on the moved clock
    os.utime(young_rowless, (future, future))

    report = await sweep_orphan_attachments(factory=factory, data_dir=data)

    assert (report.rows, report.files) == (1, 1)
    async with factory() as session:
        left = set((await session.scalars(select(Attachment.id))).all())
    assert left == {in_message.id, logo.id, in_work_order.id, young.id}
    assert not (data / never_sent.storage_path).exists() and not rowless.exists()
    for kept in (in_message, logo, in_work_order, young):
        assert (data / kept.storage_path).read_bytes().startswith(b"%PDF-1.4")
    assert young_rowless.exists() and elsewhere.exists()
    again = await sweep_orphan_attachments(factory=factory, data_dir=data)
    assert (again.rows, again.files) == (0, 0)


def test_every_column_that_points_at_an_attachment_is_honoured_by_the_sweep() -> None:
    looks_like_a_reference = {
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables if table.name != "attachments"
        for column in table.columns
        if "attachment" in column.name or column.name.endswith("_path") or column.foreign_keys
        and any(fk.column.table.name == "attachments" for fk in column.foreign_keys)
    }
    assert looks_like_a_reference <= set(reference_columns()), looks_like_a_reference - set(reference_columns())


def test_the_sweep_is_scheduled_with_the_others(tmp_path: Path) -> None:
    from bot.app import build_context

    settings: Settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", tmp_path / "data")
    ctx = build_context(settings)
    assert SWEEP_JOB in ctx.services["scheduler"].job_names
