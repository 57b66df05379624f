"""Tenant scope is a mechanism: a session opened for one organization never sees another's rows, for every scoped model."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import bot.all_models  # noqa: F401 - every model, the channels' included
from bot.core.storage.base import Base
from bot.core.storage.db import create_engine, session_factory, transaction
from bot.core.storage.tenancy import OrgScoped, org_session, org_transaction, scoped_models
from tests.utils.factories import make_org
from tests.utils.rows import one_row_per_table

MODELS = scoped_models(Base)


def test_every_model_with_an_org_id_is_scoped() -> None:
    unscoped = [m.class_.__name__ for m in Base.registry.mappers if "org_id" in m.local_table.c and not issubclass(m.class_, OrgScoped)]
    assert unscoped == [], f"models with org_id that do not inherit OrgScoped: {unscoped}"
    assert len(MODELS) >= 15


@pytest.fixture
async def two_orgs(db_url: str):  # type: ignore[no-untyped-def]
    engine = create_engine(db_url)
    factory = session_factory(engine)
    try:
        a = (await make_org(factory, slug="alpha", name="Alpha")).org.id
        b = (await make_org(factory, slug="beta", name="Beta")).org.id
        async with transaction(factory) as session:
            rows = {a: await one_row_per_table(session, a, "a"), b: await one_row_per_table(session, b, "b")}
        yield factory, a, b, rows
    finally:
        await engine.dispose()


async def test_scoped_session_cannot_reach_another_orgs_row(two_orgs) -> None:  # type: ignore[no-untyped-def]
    """For every scoped model, enumerated from the metadata: by primary key, by query, by a list of ids."""
    factory, a, b, rows = two_orgs
    for model in MODELS:
        pk = getattr(model, sa.inspect(model).primary_key[0].key)  # the ORM attribute: Core table columns are not ORM queries
        own, other = rows[a][model.__tablename__], rows[b][model.__tablename__]
        name = model.__name__
        async with org_session(factory, a) as session:
            assert await session.get(model, own) is not None, f"{name}: its own organization must see the row"
            assert await session.get(model, other) is None, f"{name}: another organization's row by primary key"
            seen = (await session.scalars(sa.select(model))).all()
            assert seen and {row.org_id for row in seen} == {a}, f"{name}: a plain query saw another organization"
            picked = (await session.scalars(sa.select(pk).where(pk.in_([own, other])))).all()
            assert list(picked) in ([own], []), f"{name}: ids of another organization"
        async with org_transaction(factory, b) as session:
            assert await session.get(model, own) is None, f"{name}: a scoped transaction saw another organization"
            everything = (await session.scalars(sa.select(model).execution_options(all_orgs=True))).all()
            assert {row.org_id for row in everything} >= {a, b}, f"{name}: all_orgs=True must see every organization"


async def test_unscoped_session_serves_every_org(two_orgs) -> None:  # type: ignore[no-untyped-def]
    factory, a, b, rows = two_orgs
    model = MODELS[0]
    async with factory() as session:
        assert await session.get(model, rows[a][model.__tablename__]) is not None
        assert await session.get(model, rows[b][model.__tablename__]) is not None
