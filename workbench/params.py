"""Ids in a workbench path: one parser for every page, so a malformed id is the same clean 404 everywhere."""

from __future__ import annotations

from aiohttp import web

from bot.core.common.errors import NotFound

MAX_ID = 2**62  # a larger number is nobody's id (and would overflow the database's integer)


def path_id(request: web.Request, key: str, what: str) -> int:
    """The positive integer id `key` of the path; anything else is "no such <what>" (404), never a 500."""
    try:
        value = int(request.match_info[key])
    except ValueError:
        raise NotFound(f"no such {what}") from None
    if not 0 < value < MAX_ID:
        raise NotFound(f"no such {what}")
    return value
