"""Ids in a workbench path: one parser for every page, so a malformed id is the same clean 404 everywhere."""

from __future__ import annotations

from aiohttp import web

from bot.core.common.errors import NotFound

MAX_ID = 2**62  # a larger number is nobody's id (and would overflow the database's integer)


def path_id(request: web.Request, key: str, not_found: str) -> int:
    """The positive integer id `key` of the path; anything else is NotFound(not_found) (404), never a 500.
    `not_found` is the whole sentence ("no such conversation"): the catalogues translate it as one key."""
    try:
        value = int(request.match_info[key])
    except ValueError:
        raise NotFound(not_found) from None
    if not 0 < value < MAX_ID:
        raise NotFound(not_found)
    return value
