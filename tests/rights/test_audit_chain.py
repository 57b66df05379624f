"""The audit chain after erasure: `incs audit verify` (the real CLI, in its own process) passes and reports erased
rows; any other changed byte, or the newest rows deleted after a checkpoint, fails naming the row. The database
itself refuses UPDATE and DELETE on audit_events except the erasure of the personal part."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from bot.config import Settings
from bot.core.orgs.audit import erase_personal_parts, record, write_checkpoint
from bot.core.orgs.models import AuditEvent, Organization
from bot.core.storage.db import SessionFactory, create_engine, session_factory, transaction

ROOT = Path(__file__).resolve().parents[2]


def incs_audit_verify(settings: Settings) -> tuple[int, str]:
    env = {**os.environ, "INCS_DATABASE__URL": settings.database_url, "INCS_DATA_DIR": str(settings.data_dir),
           "INCS_SECRET_KEY": settings.secret_key, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "audit", "verify"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


async def _chain(factory: SessionFactory) -> tuple[int, list[int]]:
    async with transaction(factory) as session:
        org = Organization(slug="acme", name="Acme", name_key="acme")
        session.add(org)
        await session.flush()
        ids = []
        for n in range(6):
            event = await record(session=session, org_id=org.id, actor_type="agent" if n % 2 else "customer", actor_id=7,
                                 action="view_conversation", subject_type="customer", subject_id=40 + n % 2,
                                 detail={"conversation_id": 100 + n, "name": f"Person {n % 2}"})
            ids.append(event.id)
    return org.id, ids


async def _unguarded(factory: SessionFactory, statement: str) -> None:
    """What an attacker with database access could do: bypass the guard triggers."""
    async with transaction(factory) as session:
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            await session.execute(text("DROP TRIGGER IF EXISTS audit_events_only_erasure"))
            await session.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
        await session.execute(text(statement))


@pytest.fixture
async def factory(settings: Settings) -> AsyncIterator[SessionFactory]:
    engine = create_engine(settings.database_url)
    yield session_factory(engine)
    await engine.dispose()


async def _erase_subject_41(factory: SessionFactory, org_id: int) -> int:
    async with transaction(factory) as session:
        return await erase_personal_parts(session=session, org_id=org_id, condition=AuditEvent.subject_id == 41)


async def test_erased_rows_verify_and_are_reported(settings: Settings, factory: SessionFactory) -> None:
    org_id, _ = await _chain(factory)
    assert await _erase_subject_41(factory, org_id) == 3
    async with factory() as session:
        assert await session.scalar(select(func.count()).where(AuditEvent.detail["name"].as_string() == "Person 1")) == 0
    code, out = incs_audit_verify(settings)
    assert code == 0, out
    assert f"org {org_id}: 6 events, 3 erased, chain intact" in out


@pytest.mark.parametrize("change", [
    "action = 'login'", "created_at = created_at", "actor_id = 8", "subject_type = 'order'",
    "detail = '{\"conversation_id\": 999, \"name\": \"Person 0\"}'", "subject_id = 42", "hash = prev_hash",
])
async def test_any_other_changed_byte_fails_naming_the_row(settings: Settings, factory: SessionFactory, change: str) -> None:
    org_id, ids = await _chain(factory)
    await _erase_subject_41(factory, org_id)
    victim = ids[2]  # customer actor, subject 40: not erased
    if change == "created_at = created_at":
        async with factory() as session:
            stamp = await session.scalar(select(AuditEvent.created_at).where(AuditEvent.id == victim))
        assert stamp is not None
        change = f"created_at = '{stamp.replace(microsecond=(stamp.microsecond + 1) % 1_000_000).isoformat(sep=' ')}'"
    if change == "actor_id = 8":
        victim = ids[3]  # agent actor: the id is part of the chain itself
    if "detail" in change and settings.database_url.startswith("postgresql"):
        change = change.replace("'{", "'{").replace("}'", "}'::json")
    await _unguarded(factory, f"UPDATE audit_events SET {change} WHERE id = {victim}")
    code, out = incs_audit_verify(settings)
    assert code == 1, out
    assert f"chain broken at event {victim}" in out


async def test_refilling_an_erased_row_fails(settings: Settings, factory: SessionFactory) -> None:
    org_id, ids = await _chain(factory)
    await _erase_subject_41(factory, org_id)
    await _unguarded(factory, f"UPDATE audit_events SET subject_id = 41 WHERE id = {ids[1]}")
    code, out = incs_audit_verify(settings)
    assert code == 1 and f"chain broken at event {ids[1]}: is marked erased" in out, out


async def test_deleting_the_newest_rows_after_a_checkpoint_is_detected(settings: Settings, factory: SessionFactory) -> None:
    org_id, ids = await _chain(factory)
    code, out = incs_audit_verify(settings)  # verify writes the head checkpoint
    assert code == 0, out
    await _unguarded(factory, f"DELETE FROM audit_events WHERE id >= {ids[4]}")
    code, out = incs_audit_verify(settings)
    assert code == 1, out
    assert f"chain broken at event {ids[5]}: checkpointed head is missing: 6 events were recorded, 4 remain" in out


async def test_the_database_refuses_update_and_delete_except_erasure(factory: SessionFactory) -> None:
    org_id, ids = await _chain(factory)
    for statement in (update(AuditEvent).where(AuditEvent.id == ids[0]).values(action="login"),
                      update(AuditEvent).where(AuditEvent.id == ids[0]).values(detail={}),
                      delete(AuditEvent).where(AuditEvent.id == ids[-1])):
        with pytest.raises(DBAPIError, match="append-only"):
            async with transaction(factory) as session:
                await session.execute(statement)
    assert await _erase_subject_41(factory, org_id) == 3  # the erasure path is allowed
    assert await _erase_subject_41(factory, org_id) == 0  # and only once
    async with transaction(factory) as session:
        assert await write_checkpoint(session=session, org_id=org_id) is not None
