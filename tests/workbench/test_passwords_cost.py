"""The product hashes passwords at argon2's recommended cost; only the test suite lowers it (tests/conftest.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from argon2 import extract_parameters
from argon2.profiles import CHEAPEST, get_default_parameters

from bot.core.orgs import agents

ROOT = Path(__file__).resolve().parents[2]


def test_the_product_hashes_at_argon2s_recommended_cost_and_the_suite_at_its_cheapest() -> None:
    made = subprocess.run(
        [sys.executable, "-c", "from bot.core.orgs.agents import hash_password; print(hash_password('a password'))"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()
    assert made.startswith("$argon2id$")
    assert extract_parameters(made) == get_default_parameters()
    here = agents.hash_password("a password")
    assert extract_parameters(here).memory_cost == CHEAPEST.memory_cost
    assert agents._verify(made, "a password") and agents._verify(here, "a password")
    assert not agents._verify(here, "another password")
