"""`make bench`: runs every tests/bench/bench_*.py module's main() and prints its figures."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    wanted = set(argv)
    here = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if not info.name.startswith("bench_") or (wanted and info.name not in wanted):
            continue
        module = importlib.import_module(f"tests.bench.{info.name}")
        print(f"\n=== {info.name} ===", flush=True)
        result = module.main()
        if inspect.iscoroutine(result):
            asyncio.run(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
