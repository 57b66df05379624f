"""A web chat connection resolves its organization once, when it opens; a frame reads it only inside the ingest
writer's one joined query (identity, organization, customer, open conversation), never on its own."""

from __future__ import annotations

from sqlalchemy import event

from tests.conftest import Server
from tests.utils.factories import OrgWithAdmin
from tests.utils.webchat import Visitor


async def test_frames_on_an_open_connection_do_not_look_the_organization_up(server: Server, demo: OrgWithAdmin) -> None:
    visitor = await Visitor(server.url).open()
    try:
        await visitor.say("first")  # first contact: creates the customer (and reads the organization to do so)
        statements: list[str] = []
        event.listen(server.ctx.engine.sync_engine, "before_cursor_execute",
                     lambda _c, _cur, statement, *_rest: statements.append(" ".join(statement.split())))
        for n in range(3):
            await visitor.say(f"frame {n}")
    finally:
        await visitor.close()
    lookups = [s for s in statements if s.startswith("SELECT organizations.")]
    assert not lookups, lookups
    joined = [s for s in statements if s.startswith("SELECT channel_identities.") and "JOIN organizations" in s]
    assert 1 <= len(joined) <= 3  # one preload per ingest batch, the organization included
