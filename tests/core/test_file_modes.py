"""The data dir, the SQLite database with its WAL and SHM, attachments and the dev secret are private (0700/0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.migrate import upgrade_async
from tests.conftest import make_settings, start_server
from tests.utils.factories import make_org
from tests.utils.webchat import Visitor


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> object:
    old = os.umask(0o022)  # the common default: files 0644, dirs 0755 unless created private
    yield
    os.umask(old)


async def test_database_wal_data_dir_and_attachments_are_created_private(tmp_path: Path, loose_umask: object) -> None:
    data = tmp_path / "fresh" / "data"
    db = data / "incs.db"
    await upgrade_async(f"sqlite+aiosqlite:///{db}")
    server = await start_server(make_settings(f"sqlite+aiosqlite:///{db}", data))
    try:
        await make_org(server.ctx.factory, slug="demo")
        visitor = await Visitor(server.url).open()
        status, _ = await visitor.upload("note.txt", b"private words", "text/plain")
        assert status == 200
        await visitor.close()
        assert Path(f"{db}-wal").exists()
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            assert mode(path) == 0o600, path
        files = [p for p in (data / "attachments").rglob("*") if p.is_file()]
        assert files and all(mode(p) == 0o600 for p in files)
        dirs = [data, tmp_path / "fresh", *(p for p in (data / "attachments").rglob("*") if p.is_dir()), data / "attachments"]
        assert all(mode(d) == 0o700 for d in dirs), [(d, oct(mode(d))) for d in dirs]
    finally:
        await server.stop()


def test_generated_secret_key_file_is_0600(tmp_path: Path, loose_umask: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INCS_SECRET_KEY", raising=False)
    monkeypatch.setenv("INCS_DATA_DIR", str(tmp_path / "d"))
    config = tmp_path / "config.yaml"
    config.write_text("mode: development\n")
    settings = load_settings(config)
    key = tmp_path / "d" / "secret_key"
    assert settings.secret_key and mode(key) == 0o600 and mode(key.parent) == 0o700
