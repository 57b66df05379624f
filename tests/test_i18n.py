"""Every word the pages and the chat script show has a Chinese translation in the zh catalogue."""

from __future__ import annotations

import re

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.channels.webchat.texts import CHAT_MESSAGES
from bot.core.orgs.profile import SERVICES
from bot.i18n import CATALOGUES, negotiate
from bot.paths import ROOT
from workbench.broadcasts import INCIDENT_PARTS
from workbench.broadcasts import KINDS as BROADCAST_KINDS
from workbench.codes import CODES
from workbench.notifications import KIND_LABELS
from workbench.reports import CHART_TITLES


def _template_messages() -> set[tuple[str | None, str]]:
    """(context, message) of every `_()` and `pgettext()` in the templates; the context is None for `_()`."""
    found = extract_from_dir(
        str(ROOT / "templates"),
        method_map=[("**.html", "jinja2")],
        options_map={"**.html": {"extensions": "jinja2.ext.i18n"}},
    )
    return {(context, message) for _f, _l, message, _c, context in found if isinstance(message, str)}


def test_every_message_has_a_chinese_translation() -> None:
    with (CATALOGUES / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="zh")
    translated = {(m.context, m.id) for m in catalog if m.id and m.string}
    labels = {*KIND_LABELS.values(), *SERVICES.values(), *BROADCAST_KINDS.values(), *(label for _k, label in INCIDENT_PARTS),
              *CHART_TITLES.values()}  # English labels that Python puts on a page, shown through _()
    others = set(CHAT_MESSAGES) | labels
    codes = {(context, code) for context, values in CODES.items() for code in values}  # shown through |code(context)
    wanted = _template_messages() | {(None, message) for message in others} | codes
    assert wanted - translated == set()


def test_the_english_and_chinese_catalogues_list_the_same_messages() -> None:
    """English shows a message's key as its text; the catalogue still lists every one, so that a translator
    working from either file sees the whole set."""
    keys = {}
    for locale in ("en", "zh"):
        with (CATALOGUES / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            keys[locale] = {(m.context, m.id) for m in read_po(handle, locale=locale) if m.id}
    assert keys["zh"] - keys["en"] == set() and keys["en"] - keys["zh"] == set()


def test_browser_language_is_negotiated_with_quality_values() -> None:
    assert negotiate("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert negotiate("fr-FR,en;q=0.5,zh;q=0.7") == "zh"
    assert negotiate("de") == "en"
    assert negotiate("") == "en"


def test_no_page_shows_english_words_that_are_not_in_the_catalogue() -> None:
    """Every text node and every title / placeholder / aria-label / alt of every template goes through `_()`: what is
    left once the Jinja tags, expressions and comments are taken out has no words, but for names that stay as they are."""
    from html.parser import HTMLParser

    keep = {"INCS Support", "Telegram", "Ctrl", "Enter", "getMe", "getWebhookInfo", "RR-", "https://"}  # names, keys, a prefix

    def bare(text: str) -> str:
        text = re.sub(r"\{% block body_class %\}\w+\{% endblock %\}", " ", text)  # a CSS class, not a text
        for pattern in (r"\{#.*?#\}", r"\{%.*?%\}", r"\{\{.*?\}\}"):
            text = re.sub(pattern, " ", text, flags=re.S)
        for word in keep:
            text = text.replace(word, " ")
        return text

    class Words(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.found: list[str] = []
            self.verbatim = 0  # inside script, style or code

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.verbatim += tag in ("script", "style", "code")
            self.found += [f"{name}={value!r}" for name, value in attrs
                           if name in ("title", "placeholder", "aria-label", "alt") and value and re.search(r"[A-Za-z]{2,}", bare(value))]

        def handle_endtag(self, tag: str) -> None:
            self.verbatim -= tag in ("script", "style", "code") and self.verbatim > 0

        def handle_data(self, data: str) -> None:
            if not self.verbatim and re.search(r"[A-Za-z]{2,}", data):
                self.found.append(data.strip())

    left = {}
    for path in sorted((ROOT / "templates").rglob("*.html")):
        words = Words()
        words.feed(bare(path.read_text(encoding="utf-8")))
        if words.found:
            left[str(path.relative_to(ROOT))] = words.found
    assert left == {}


def test_each_translation_keeps_the_placeholders_of_its_message() -> None:
    """A Chinese text that lost, renamed or added a `%(name)s`, or a bare `%`, would break the page in Chinese only."""
    with (CATALOGUES / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="zh")
    named = re.compile(r"%\((\w+)\)s")
    wrong = []
    for message in catalog:
        if not message.id or not message.string:
            continue
        text_id, text = str(message.id), str(message.string)
        bare = [re.sub(r"%\(\w+\)s|%%", "", t).count("%") for t in (text_id, text)]
        if sorted(named.findall(text_id)) != sorted(named.findall(text)) or bare[1] > bare[0] or text_id.count("%%") != text.count("%%"):
            wrong.append((text_id, text))
    assert wrong == []
