"""Workbench fixtures: a server whose SMTP points at a real aiosmtpd sink on loopback (invitations, resets)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import Server, make_settings, start_server
from tests.fakes.smtp import SmtpSink, smtp_sink  # noqa: F401 - fixture


@pytest.fixture
async def mail_server(db_url: str, tmp_path: Path, smtp_sink: SmtpSink) -> AsyncIterator[Server]:  # noqa: F811
    smtp = {"host": smtp_sink.host, "port": smtp_sink.port, "timeout_seconds": 2}
    srv = await start_server(make_settings(db_url, tmp_path / "data", smtp=smtp))
    yield srv
    await srv.stop()
