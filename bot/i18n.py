"""Page languages: the gettext catalogue of each locale (translations/<locale>/LC_MESSAGES/messages.po) and
the choice of a locale from a browser's Accept-Language.

Catalogues are kept as .po text and compiled in memory on first use, so there is no build or compile step;
a message missing from a catalogue shows in English, never as an error.
"""

from __future__ import annotations

import io
from functools import lru_cache

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from bot.paths import ROOT

LOCALES = ("en", "zh")
CATALOGUES = ROOT / "translations"


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> NullTranslations:
    path = CATALOGUES / locale / "LC_MESSAGES" / "messages.po"
    if locale not in LOCALES or not path.exists():
        return NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def gettext(locale: str, message: str) -> str:
    return translations(locale).gettext(message)


def error_text(error: Exception, locale: str) -> str:
    """A domain error in the reader's language: its key through the catalogue, then its values; English when the
    catalogue has no entry (or a translation's placeholders do not fit)."""
    key: str = getattr(error, "key", "") or str(error)
    params: dict[str, object] = getattr(error, "params", {})
    english: str = getattr(error, "message", "") or str(error)
    try:
        return gettext(locale, key) % params if params else gettext(locale, key)
    except (KeyError, TypeError, ValueError):
        return english


def negotiate(accept_language: str, default: str = "en") -> str:
    """The first supported language in the header's preference order (q-values honoured)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.strip().lower()))
    for _q, _p, tag in sorted(ranked):
        base = tag.split("-")[0]
        if base in LOCALES and _q < 0:
            return base
    return default
