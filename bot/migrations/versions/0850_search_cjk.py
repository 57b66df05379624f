"""full-text search finds Chinese, Japanese and Korean words inside sentences

Revision ID: 0850
Revises: 0700
Create Date: 2026-11-30 05:50:00

The search indexes are rebuilt over text whose CJK runs are written as overlapping two-character pieces
(bot/core/common/cjk.py). SQLite: the FTS5 tables become contentless (they hold only the index; the triggers
index `incs_search_text(text)` for text with CJK characters, the text itself otherwise, and delete the same
value). PostgreSQL: a PL/pgSQL function `incs_search_text` and GIN indexes over to_tsvector('simple', it).
"""

# ruff: noqa: S608 - the statements are built from this file's constants, never from input
from collections.abc import Callable, Sequence

from alembic import op

revision: str = '0850'
down_revision: str | None = '0700'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Kept in step with bot/core/common/cjk.py (CJK_RANGES, SQL_FUNCTION).
CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
TRIGGERS = ("search_messages_ai", "search_messages_ad", "search_messages_au",
            "search_customers_ai", "search_customers_ad", "search_customers_au")


def _indexed(column: str) -> str:
    """The value indexed for a column: the SQL function only for text with CJK characters (a plain GLOB decides)."""
    return f"CASE WHEN {column} GLOB '*[{CJK}]*' THEN incs_search_text({column}) ELSE {column} END"


def _as_is(column: str) -> str:
    return column


def _sqlite_search(m: Callable[[str], str]) -> tuple[str, ...]:
    return (
        "CREATE VIRTUAL TABLE search_messages USING fts5(text, content='', tokenize='unicode61 remove_diacritics 2')",
        "CREATE TRIGGER search_messages_ai AFTER INSERT ON messages BEGIN "
        f"INSERT INTO search_messages(rowid, text) VALUES (new.id, {m('new.text')}); END",
        "CREATE TRIGGER search_messages_ad AFTER DELETE ON messages BEGIN "
        f"INSERT INTO search_messages(search_messages, rowid, text) VALUES ('delete', old.id, {m('old.text')}); END",
        "CREATE TRIGGER search_messages_au AFTER UPDATE OF text ON messages BEGIN "
        f"INSERT INTO search_messages(search_messages, rowid, text) VALUES ('delete', old.id, {m('old.text')}); "
        f"INSERT INTO search_messages(rowid, text) VALUES (new.id, {m('new.text')}); END",
        f"INSERT INTO search_messages(rowid, text) SELECT id, {m('text')} FROM messages",
        "CREATE VIRTUAL TABLE search_customers USING fts5(name, email, phone, content='', "
        "tokenize='unicode61 remove_diacritics 2')",
        "CREATE TRIGGER search_customers_ai AFTER INSERT ON customers BEGIN "
        f"INSERT INTO search_customers(rowid, name, email, phone) VALUES (new.id, {m('new.name')}, new.email, new.phone); END",
        "CREATE TRIGGER search_customers_ad AFTER DELETE ON customers BEGIN "
        "INSERT INTO search_customers(search_customers, rowid, name, email, phone) "
        f"VALUES ('delete', old.id, {m('old.name')}, old.email, old.phone); END",
        "CREATE TRIGGER search_customers_au AFTER UPDATE OF name, email, phone ON customers BEGIN "
        "INSERT INTO search_customers(search_customers, rowid, name, email, phone) "
        f"VALUES ('delete', old.id, {m('old.name')}, old.email, old.phone); "
        f"INSERT INTO search_customers(rowid, name, email, phone) VALUES (new.id, {m('new.name')}, new.email, new.phone); END",
        f"INSERT INTO search_customers(rowid, name, email, phone) SELECT id, {m('name')}, email, phone FROM customers",
    )


POSTGRES_FUNCTION = r"""
CREATE OR REPLACE FUNCTION incs_search_text(body text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
  result text := '';
  piece text;
  n int;
BEGIN
  IF body !~ '[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]' THEN
    RETURN body;
  END IF;
  FOR piece IN SELECT (regexp_matches(body,
      '[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+|[^\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+',
      'g'))[1] LOOP
    IF piece ~ '^[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]' THEN
      n := length(piece);
      IF n = 1 THEN
        result := result || ' ' || piece || ' ';
      ELSE
        FOR i IN 1 .. n - 1 LOOP
          result := result || ' ' || substr(piece, i, 2);
        END LOOP;
        result := result || ' ' || substr(piece, n, 1) || ' ';
      END IF;
    ELSE
      result := result || piece;
    END IF;
  END LOOP;
  RETURN result;
END
$fn$
"""
CUSTOMER_DOCUMENT = "coalesce(name, '') || ' ' || coalesce(email, '') || ' ' || coalesce(phone, '')"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _drop_sqlite()
        for statement in _sqlite_search(_indexed):
            op.execute(statement)
        return
    op.execute(POSTGRES_FUNCTION)
    op.execute("DROP INDEX IF EXISTS search_messages_text")
    op.execute("DROP INDEX IF EXISTS search_customers_text")
    op.execute("CREATE INDEX search_messages_text ON messages USING gin (to_tsvector('simple', incs_search_text(text)))")
    op.execute(f"CREATE INDEX search_customers_text ON customers USING gin (to_tsvector('simple', incs_search_text({CUSTOMER_DOCUMENT})))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _drop_sqlite()
        op.execute("CREATE VIRTUAL TABLE search_messages USING fts5(text, content='messages', content_rowid='id', "
                   "tokenize='unicode61 remove_diacritics 2')")
        op.execute("CREATE VIRTUAL TABLE search_customers USING fts5(name, email, phone, content='customers', "
                   "content_rowid='id', tokenize='unicode61 remove_diacritics 2')")
        for statement in _sqlite_search(_as_is):
            if statement.startswith(("CREATE TRIGGER",)):
                op.execute(statement)
        op.execute("INSERT INTO search_messages(search_messages) VALUES ('rebuild')")
        op.execute("INSERT INTO search_customers(search_customers) VALUES ('rebuild')")
        return
    op.execute("DROP INDEX IF EXISTS search_messages_text")
    op.execute("DROP INDEX IF EXISTS search_customers_text")
    op.execute("CREATE INDEX search_messages_text ON messages USING gin (to_tsvector('simple', text))")
    op.execute(f"CREATE INDEX search_customers_text ON customers USING gin (to_tsvector('simple', {CUSTOMER_DOCUMENT}))")
    op.execute("DROP FUNCTION IF EXISTS incs_search_text(text)")


def _drop_sqlite() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS search_messages")
    op.execute("DROP TABLE IF EXISTS search_customers")
