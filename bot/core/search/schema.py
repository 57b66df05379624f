"""Names of the full-text search objects, which live beside the ORM tables but are not models (FTS5 tables and
their shadow tables on SQLite, GIN expression indexes on PostgreSQL): model/migration comparison skips them."""

from __future__ import annotations

from typing import Any

PREFIX = "search_"


def include_name(name: str | None, type_: str, _parent_names: Any) -> bool:
    return not (type_ in ("table", "index") and name is not None and name.startswith(PREFIX))
