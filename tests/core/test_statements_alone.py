"""storage.db.statements_alone: on PostgreSQL a statement run in it, before the session's transaction has begun
on the server, is a transaction of its own (no BEGIN, no COMMIT round trip); afterwards the same connection's
statements join the session's transaction again, so a rollback undoes them. On SQLite it changes nothing."""

from __future__ import annotations

from sqlalchemy import select, update

from bot.core.orgs.models import Organization
from bot.core.storage.db import create_engine, session_factory, statements_alone
from tests.utils.factories import make_org


class _Undone(Exception):
    pass


async def test_a_statement_alone_commits_itself_and_the_connection_goes_back_to_transactions(db_url: str) -> None:
    engine = create_engine(db_url)
    factory = session_factory(engine)
    postgres = engine.dialect.name == "postgresql"
    try:
        org_id = (await make_org(factory, slug="alone")).org.id
        renamed = update(Organization).where(Organization.id == org_id)
        try:
            async with factory() as session, session.begin():
                async with statements_alone(session) as alone:
                    await session.execute(renamed.values(name="alone"))
                assert alone is postgres
                await session.execute(renamed.values(name="in the transaction"))
                async with statements_alone(session) as again:  # the transaction has begun: no longer alone
                    await session.execute(renamed.values(name="joined"))
                assert again is False
                raise _Undone
        except _Undone:
            pass
        async with factory() as session:
            name = await session.scalar(select(Organization.name).where(Organization.id == org_id))
        assert name == ("alone" if postgres else "Alone Company"), name
        async with factory() as session, session.begin():
            async with statements_alone(session, when=False) as alone:
                await session.execute(renamed.values(name="not alone"))
            assert alone is False
            await session.rollback()
        async with factory() as session:
            assert await session.scalar(select(Organization.name).where(Organization.id == org_id)) != "not alone"
    finally:
        await engine.dispose()
