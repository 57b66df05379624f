"""`incs run` prints where it really listens: `server.port` overridden alone must not print the default public URL."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import make_url

from tests.conftest import SECRET, free_port
from tests.utils.db import BASE_PG_URL, PG_URL


async def test_incs_run_prints_the_address_it_listens_on(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "INCS_SERVER__PORT": str(port), "INCS_DATA_DIR": str(tmp_path / "data"), "INCS_SECRET_KEY": SECRET,
           "INCS_CONFIG": str(tmp_path / "none.yaml"), "INCS_LOGGING__LEVEL": "WARNING"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.DEVNULL)
    printed: list[str] = []
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(90):  # migrations and start-up on a busy machine
            while not any("Web chat" in line for line in printed):
                line = (await proc.stdout.readline()).decode()
                assert line, f"incs run exited: {printed}"
                printed.append(line.strip())
    finally:
        proc.terminate()
        await proc.wait()
    text = "\n".join(printed)
    assert f"Listening on http://127.0.0.1:{port}" in text
    assert f"Workbench: http://127.0.0.1:{port}/workbench" in text and f"http://127.0.0.1:{port}/chat" in text
    assert "Public URL:   http://127.0.0.1:8080" in text  # the default links still point elsewhere: said, not hidden
    assert "Password:" in text  # the demo login, once


@pytest.mark.skipif(not BASE_PG_URL, reason="several processes share one database only on PostgreSQL (INCS_TEST_DATABASE_URL)")
async def test_processes_started_at_once_on_a_new_postgresql_database_all_come_up(tmp_path: Path) -> None:
    """Three `incs run` at once on an empty database (a first deploy with several replicas): one migrates and creates
    the demo organization and the policy version, the others wait for it and find them. Before, two of three died:
    on `pg_type`'s unique key (both creating the tables) or on `policy_versions.version`."""
    name = f"{make_url(PG_URL).database}_startup"
    admin = await asyncpg.connect(make_url(BASE_PG_URL).set(drivername="postgresql").render_as_string(hide_password=False))
    url = make_url(BASE_PG_URL).set(database=name).render_as_string(hide_password=False)
    procs: list[asyncio.subprocess.Process] = []
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        for n in range(3):
            env = {**os.environ, "INCS_SERVER__PORT": str(free_port()), "INCS_DATA_DIR": str(tmp_path / f"p{n}"),
                   "INCS_SECRET_KEY": SECRET, "INCS_CONFIG": str(tmp_path / "none.yaml"), "INCS_LOGGING__LEVEL": "WARNING",
                   "INCS_DATABASE__URL": url}
            procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL))
        printed = await asyncio.gather(*(_until_listening(proc) for proc in procs))
        assert all("Web chat" in lines[-1] for lines in printed), printed
        assert sum("Password:" in " ".join(lines) for lines in printed) == 1, printed  # one demo login, shown once
        db = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            assert await db.fetchval("SELECT count(*) FROM organizations") == 1
            assert await db.fetchval("SELECT count(*) FROM policy_versions") == 1
        finally:
            await db.close()
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
            await proc.wait()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _until_listening(proc: asyncio.subprocess.Process) -> list[str]:
    """What it printed up to the line naming the web chat (its last), or up to its exit."""
    assert proc.stdout is not None
    printed: list[str] = []
    async with asyncio.timeout(120):  # migrations and start-up of three processes on a busy machine
        while not printed or "Web chat" not in printed[-1]:
            line = (await proc.stdout.readline()).decode()
            if not line:
                return printed + ["(exited)"]
            if line.strip():
                printed.append(line.strip())
    return printed
