"""A server whose SMTP points at a real aiosmtpd sink on loopback (for the identity check)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import Server, make_settings, start_server
from tests.fakes.smtp import SmtpSink, smtp_sink  # noqa: F401 - fixture
from tests.utils.factories import OrgWithAdmin, make_org


@pytest.fixture
async def mail_server(db_url: str, tmp_path: Path, smtp_sink: SmtpSink) -> AsyncIterator[Server]:  # noqa: F811
    smtp = {"host": smtp_sink.host, "port": smtp_sink.port, "timeout_seconds": 2}
    settings = make_settings(db_url, tmp_path / "data", smtp=smtp)
    srv = await start_server(settings)
    yield srv
    await srv.stop()


@pytest.fixture
async def org(mail_server: Server) -> OrgWithAdmin:
    return await make_org(mail_server.ctx.factory, slug="demo")
