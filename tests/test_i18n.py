"""Every word the pages and the chat script show has a Chinese translation in the zh catalogue."""

from __future__ import annotations

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.channels.webchat.texts import CHAT_MESSAGES
from bot.i18n import CATALOGUES, negotiate
from bot.paths import ROOT
from workbench.notifications import KIND_LABELS


def _template_messages() -> set[str]:
    found = extract_from_dir(
        str(ROOT / "templates"),
        method_map=[("**.html", "jinja2")],
        options_map={"**.html": {"extensions": "jinja2.ext.i18n"}},
    )
    return {message for _f, _l, message, _c, _x in found if isinstance(message, str)}


def test_every_message_has_a_chinese_translation() -> None:
    with (CATALOGUES / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="zh")
    translated = {m.id for m in catalog if m.id and m.string}
    dynamic = {"Open", "Pending", "Resolved", "Low", "Normal", "High", "Urgent"}  # _(status|capitalize), _(priority|capitalize)
    wanted = _template_messages() | set(CHAT_MESSAGES) | set(KIND_LABELS.values()) | dynamic
    assert wanted - translated == set()


def test_the_english_and_chinese_catalogues_list_the_same_messages() -> None:
    """English shows a message's key as its text; the catalogue still lists every one, so that a translator
    working from either file sees the whole set."""
    keys = {}
    for locale in ("en", "zh"):
        with (CATALOGUES / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            keys[locale] = {m.id for m in read_po(handle, locale=locale) if m.id}
    assert keys["zh"] - keys["en"] == set() and keys["en"] - keys["zh"] == set()


def test_browser_language_is_negotiated_with_quality_values() -> None:
    assert negotiate("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert negotiate("fr-FR,en;q=0.5,zh;q=0.7") == "zh"
    assert negotiate("de") == "en"
    assert negotiate("") == "en"
