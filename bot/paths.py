"""Where the repository's non-code files live."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "workbench" / "static"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
