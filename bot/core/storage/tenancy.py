"""Tenant scope as a mechanism, not a habit.

Every model whose rows belong to an organization inherits `OrgScoped`. A session opened for a request
(`org_session`, `org_transaction`) carries its organization, and every ORM SELECT it runs — queries,
`session.get`, relationship loads — gets `org_id = :org` for each scoped model it touches, added here
by a `do_orm_execute` hook. A row of another organization is simply not there, whatever id is asked for.

Writers that serve every organization (the ingest writer, the outbox dispatcher, sweeps, the CLI)
open plain sessions with `transaction(factory)` / `factory()`: being cross-organization is what they say
by not naming one. A query may opt out explicitly with `.execution_options(all_orgs=True)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import column, event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session, declared_attr, with_loader_criteria

from bot.core.storage.db import write_turn

ORG_KEY = "incs_org_id"


class OrgScoped:
    """Mixin: the model's rows belong to one organization (its `org_id`); scoped sessions see only theirs.

    Each model declares its own `org_id` column; this attribute only lets the criteria below be written once
    against the mixin (SQLAlchemy reads it when it analyses the lambda; each model's own column is used)."""

    @declared_attr
    def org_id(cls) -> Any:  # noqa: N805 - a declared_attr takes the class
        return column("org_id")


def session_org(session: AsyncSession | Session) -> int | None:
    """The organization a session is scoped to, or None for a cross-organization session."""
    value = session.info.get(ORG_KEY)
    return int(value) if value is not None else None


@event.listens_for(Session, "do_orm_execute")
def _org_criteria(state: ORMExecuteState) -> None:
    org_id = state.session.info.get(ORG_KEY)
    if org_id is None or not state.is_select or state.execution_options.get("all_orgs", False):
        return
    state.statement = state.statement.options(
        with_loader_criteria(OrgScoped, lambda cls: cls.org_id == org_id, include_aliases=True)
    )


@asynccontextmanager
async def org_session(factory: async_sessionmaker[AsyncSession], org_id: int | None) -> AsyncIterator[AsyncSession]:
    """A read session that sees only `org_id`'s rows of every scoped model."""
    async with factory() as session:
        session.info[ORG_KEY] = _scope(org_id)
        yield session


def _scope(org_id: int | None) -> int:
    # A platform admin belongs to no organization: a request session of theirs sees no organization's rows.
    # Platform pages that read across organizations (certification review, audited grants) open plain sessions.
    return org_id if org_id is not None else -1


@asynccontextmanager
async def org_transaction(factory: async_sessionmaker[AsyncSession], org_id: int | None) -> AsyncIterator[AsyncSession]:
    """One unit of work scoped to `org_id` (commits on success, rolls back on error), taking the SQLite writer turn."""
    async with write_turn(factory), factory() as session, session.begin():
        session.info[ORG_KEY] = _scope(org_id)
        yield session


def scoped_models(base: Any) -> list[type[Any]]:
    """Every mapped class that is organization-scoped (for tests and tools)."""
    return sorted((m.class_ for m in base.registry.mappers if issubclass(m.class_, OrgScoped)), key=lambda c: c.__name__)
