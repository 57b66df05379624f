"""Slack message markup made readable for agents: <@U1> -> @Name, <#C1|general> -> #general, links, &amp;.

Guarantees: `readable` only rewrites Slack's documented control sequences (<@…>, <#…>, <!…>, <http…>,
<mailto:…>) and the three escaped characters; any other text, including a literal "<from>", is kept.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"<([@#!])([A-Za-z0-9^._-]+)(?:\|([^>]*))?>|<((?:https?|mailto):[^>|]+)(?:\|([^>]*))?>")
_USER = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")


def mentioned_users(text: str) -> set[str]:
    return set(_USER.findall(text))


def readable(text: str, names: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        sigil, ident, label, url, url_label = match.groups()
        if url is not None:
            shown = url.removeprefix("mailto:")
            return f"{url_label} ({shown})" if url_label and url_label != shown else shown
        if sigil == "@":
            return f"@{label or names.get(ident) or ident}"
        if sigil == "#":
            return f"#{label or ident}"
        return f"@{label or ident.split('^')[0]}"  # <!here>, <!channel>, <!subteam^S1|@team>

    return _CONTROL.sub(replace, text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
