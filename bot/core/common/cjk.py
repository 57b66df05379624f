"""Chinese, Japanese and Korean text for full-text search, which splits words at spaces and punctuation only.

A sentence in these scripts has no spaces, so the engines' tokenizers (SQLite FTS5 `unicode61`, PostgreSQL's
default parser) would index "我想退款" as one word and never find "退款" inside it. Before indexing, every run of
CJK characters is written as its overlapping two-character pieces plus its last character ("我想 想退 退款 款");
a query word is looked up as the phrase of its pieces ("退款" -> "退款", "订单号" -> "订单 单号"), a single
character as a prefix, so a word is found wherever it stands in a sentence. Other text is indexed unchanged.

The same transformation runs in the database: SQLite calls `incs_search_text` (registered on every connection by
bot/core/storage/sqlite_driver.py) from the search triggers, PostgreSQL a PL/pgSQL function of the same name
(migration 0850). Both must give the same pieces; tests/core/test_search.py checks them on both backends.
"""

from __future__ import annotations

import re

SQL_FUNCTION = "incs_search_text"
# Kana, CJK ideographs (extension A and the main block), Hangul syllables, compatibility ideographs.
CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_RUN = re.compile(f"[{CJK_RANGES}]+")
_PIECES = re.compile(f"[{CJK_RANGES}]+|[^{CJK_RANGES}]+")


def bigrams(run: str) -> list[str]:
    """The query pieces of one CJK run: its overlapping pairs (a single character stands alone)."""
    return [run] if len(run) < 2 else [run[i : i + 2] for i in range(len(run) - 1)]


def index_text(text: str | None) -> str | None:
    """What the full-text index holds for `text`: CJK runs as pairs plus their last character, the rest as is."""
    if text is None or not _RUN.search(text):
        return text
    return _RUN.sub(lambda m: " " + " ".join(bigrams(m.group()) + ([m.group()[-1]] if len(m.group()) > 1 else [])) + " ", text)


def split_term(term: str) -> list[tuple[str, bool]]:
    """A query word split into its CJK runs and the rest: [("订单号", True), ("123", False)]."""
    return [(piece, bool(_RUN.fullmatch(piece))) for piece in _PIECES.findall(term)]
