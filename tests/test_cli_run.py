"""`incs run` prints where it really listens: `server.port` overridden alone must not print the default public URL."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.conftest import SECRET, free_port


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
