"""full-text search leaves out the bot's own replies

Revision ID: 0870
Revises: 0860
Create Date: 2026-12-01 03:00:00

The bot's outgoing messages (greeting, privacy notice, help, confirmations, one-time code texts) are the product's
own template texts, the same in every conversation: indexed, a search for "delete" or "export" listed every
conversation's privacy notice before the one customer who asked, and every new chat indexed some hundred words of
them (57 µs of the 100 µs its four messages cost SQLite, measured on a copy of a benchmark's database). The index
now holds what customers and agents wrote, notes included (a pre-chat form's note too). SQLite: the triggers skip a message whose author is the bot and whose
direction is out (neither column changes after the insert, so the delete and update triggers skip the same rows),
and the index is rebuilt from the rows it keeps. PostgreSQL: the GIN index becomes partial over the same rows, and
the search query carries the same condition (bot/core/search).
"""

# ruff: noqa: S608 - the statements are built from this file's constants, never from input
from collections.abc import Sequence

from alembic import op

revision: str = '0870'
down_revision: str | None = '0860'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"  # as in 0850 (bot/core/common/cjk.py)
KEPT = "(author_type <> 'bot' OR direction <> 'out')"  # bot/core/search INDEXED_MESSAGES: the same rows


def _indexed(column: str) -> str:
    return f"CASE WHEN {column} GLOB '*[{CJK}]*' THEN incs_search_text({column}) ELSE {column} END"


def _kept(row: str) -> str:
    return f"({row}.author_type <> 'bot' OR {row}.direction <> 'out')"


def _sqlite_triggers(condition: bool) -> tuple[str, ...]:
    new = f"WHEN {_kept('new')} " if condition else ""
    old = f"WHEN {_kept('old')} " if condition else ""
    return (
        f"CREATE TRIGGER search_messages_ai AFTER INSERT ON messages {new}BEGIN "
        f"INSERT INTO search_messages(rowid, text) VALUES (new.id, {_indexed('new.text')}); END",
        f"CREATE TRIGGER search_messages_ad AFTER DELETE ON messages {old}BEGIN "
        f"INSERT INTO search_messages(search_messages, rowid, text) VALUES ('delete', old.id, {_indexed('old.text')}); END",
        f"CREATE TRIGGER search_messages_au AFTER UPDATE OF text ON messages {old}BEGIN "
        f"INSERT INTO search_messages(search_messages, rowid, text) VALUES ('delete', old.id, {_indexed('old.text')}); "
        f"INSERT INTO search_messages(rowid, text) VALUES (new.id, {_indexed('new.text')}); END",
    )


def _sqlite(condition: bool) -> None:
    for name in ("search_messages_ai", "search_messages_ad", "search_messages_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for statement in _sqlite_triggers(condition):
        op.execute(statement)
    # A contentless index forgets a row only when told its indexed text: rebuilt whole from the rows it keeps.
    op.execute("INSERT INTO search_messages(search_messages) VALUES ('delete-all')")
    where = f" WHERE {KEPT}" if condition else ""
    op.execute(f"INSERT INTO search_messages(rowid, text) SELECT id, {_indexed('text')} FROM messages{where}")


def _postgres(condition: bool) -> None:
    op.execute("DROP INDEX IF EXISTS search_messages_text")
    where = f" WHERE {KEPT}" if condition else ""
    op.execute(f"CREATE INDEX search_messages_text ON messages USING gin (to_tsvector('simple', incs_search_text(text))){where}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite(True)
    else:
        _postgres(True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite(False)
    else:
        _postgres(False)
