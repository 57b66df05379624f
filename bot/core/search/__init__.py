"""Full-text search over messages and customers, one interface over two engines: SQLite FTS5 (contentless tables
kept by triggers) and PostgreSQL full-text (GIN indexes over to_tsvector('simple', incs_search_text(...))).
Chinese, Japanese and Korean words are found inside sentences: both indexes hold CJK text as overlapping
two-character pieces, and a query word is looked up as the phrase of its pieces (bot/core/common/cjk.py).

The bot's outgoing messages (greetings, the privacy notice, help, confirmations) are not indexed: they are the
product's own texts, the same in every conversation, and would list every conversation for a word such as "delete"
or "export". Customers' and agents' messages and all notes are (migration 0870).

Every query is tenant-scoped (org_id) and combined with the inbox filters (channel, status, assignee, unread,
verified, label). Words the agent types are always quoted, so search syntax never reaches the engine raw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, column, exists, func, literal_column, or_, select, table, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common import cjk
from bot.core.common.errors import InvalidInput
from bot.core.conversations.models import Conversation, Customer, Message
from bot.core.triage.models import ConversationLabel

MAX_QUERY = 200
_SIMPLE: ColumnElement[Any] = literal_column("'simple'")
_WORD = re.compile(r"[\w@.+\-']+", re.UNICODE)
# The messages the indexes hold, as migration 0870 writes it: literals, so that PostgreSQL matches its partial index.
INDEXED_MESSAGES: ColumnElement[bool] = or_(
    Message.author_type != literal_column("'bot'"), Message.direction != literal_column("'out'")
)


@dataclass(frozen=True)
class SearchFilters:
    channel: str | None = None
    status: str | None = None
    assignee_id: int | None = None
    unread: bool = False
    verified: bool = False
    label: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, False, "")}


@dataclass(frozen=True)
class Hit:
    conversation_id: int
    customer_id: int
    customer_name: str
    channel: str
    status: str
    text: str
    at: datetime
    message_id: int | None = None


@dataclass(frozen=True)
class CustomerHit:
    customer_id: int
    name: str
    email: str | None
    phone: str | None


@dataclass
class Results:
    messages: list[Hit] = field(default_factory=list)
    customers: list[CustomerHit] = field(default_factory=list)


def words(query: str) -> list[str]:
    if len(query) > MAX_QUERY:
        raise InvalidInput("search: at most %(limit)s characters", limit=MAX_QUERY)
    return _WORD.findall(query)[:12]


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _fts5_query(terms: list[str]) -> str:
    # Whole words only, as on PostgreSQL: a prefix query ("w1"*) expands to every word starting so and is slow.
    # A CJK run is the phrase of its two-character pieces; a lone CJK character, a prefix of the pieces it begins.
    parts = []
    for term in terms:
        for piece, is_cjk in cjk.split_term(term):
            if not is_cjk:
                parts.append(_quoted(piece))
            elif len(piece) == 1:
                parts.append(_quoted(piece) + "*")
            else:
                parts.append(_quoted(" ".join(cjk.bigrams(piece))))
    return " ".join(parts)


def _ts_query(terms: list[str]) -> Any:
    """The PostgreSQL tsquery of the same meaning: plain words, CJK phrases, lone CJK characters as prefixes."""
    plain: list[str] = []
    queries: list[Any] = []
    for term in terms:
        for piece, is_cjk in cjk.split_term(term):
            if not is_cjk:
                plain.append(piece)
            elif len(piece) == 1:  # one CJK character: no quote or operator can be in it
                queries.append(func.to_tsquery(_SIMPLE, f"'{piece}':*"))
            else:
                queries.append(func.phraseto_tsquery(_SIMPLE, " ".join(cjk.bigrams(piece))))
    if plain:
        queries.insert(0, func.plainto_tsquery(_SIMPLE, " ".join(plain)))
    combined = queries[0]
    for query in queries[1:]:
        combined = combined.op("&&")(query)
    return combined


def _ts_match(document: Any, terms: list[str]) -> ColumnElement[bool]:
    indexed = func.to_tsvector(_SIMPLE, func.incs_search_text(document))  # the expression the GIN index is over
    return indexed.op("@@")(_ts_query(terms))


def _filtered(query: Any, org_id: int, filters: SearchFilters) -> Any:  # any select over conversations
    conditions: list[ColumnElement[bool]] = [Conversation.org_id == org_id]
    if filters.channel:
        conditions.append(Conversation.channel == filters.channel)
    if filters.status:
        conditions.append(Conversation.status == filters.status)
    if filters.assignee_id is not None:
        conditions.append(Conversation.assignee_id == filters.assignee_id)
    if filters.unread:
        conditions.append(Conversation.unread_count > 0)
    if filters.verified:
        conditions.append(Customer.verified_at.is_not(None))
    if filters.label:
        conditions.append(exists().where(ConversationLabel.conversation_id == Conversation.id,
                                         ConversationLabel.label == filters.label))
    return query.where(and_(*conditions))


async def search(*, session: AsyncSession, org_id: int, query: str, filters: SearchFilters, limit: int = 50) -> Results:
    """Messages (newest first) and customers matching every word; no words: the conversations the filters select."""
    terms = words(query)
    if not terms:
        return Results(messages=await _conversations(session, org_id, filters, limit))
    sqlite = session.get_bind().dialect.name == "sqlite"
    return Results(
        messages=await _messages(session, org_id, terms, filters, limit, sqlite),
        customers=await _customers(session, org_id, terms, min(limit, 20), sqlite),
    )


async def _conversations(session: AsyncSession, org_id: int, filters: SearchFilters, limit: int) -> list[Hit]:
    base = select(Conversation, Customer.name).join(Customer, Customer.id == Conversation.customer_id)
    query = _filtered(base, org_id, filters).order_by(Conversation.last_activity_at.desc(), Conversation.id.desc()).limit(limit)
    rows: list[Any] = list((await session.execute(query)).all())
    return [
        Hit(conversation_id=c.id, customer_id=c.customer_id, customer_name=name or f"Visitor #{c.customer_id}", channel=c.channel,
            status=c.status, text=c.last_message_preview, at=c.last_activity_at)
        for c, name in rows
    ]


async def _messages(
    session: AsyncSession, org_id: int, terms: list[str], filters: SearchFilters, limit: int, sqlite: bool
) -> list[Hit]:
    query = (
        select(Message.id, Message.text, Message.created_at, Conversation.id, Conversation.customer_id, Conversation.channel,
               Conversation.status, Customer.name)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(Customer, Customer.id == Conversation.customer_id)
        .where(Message.org_id == org_id)
    )
    if sqlite:
        fts = table("search_messages", column("rowid"))
        query = query.join(fts, fts.c.rowid == Message.id).where(
            text("search_messages MATCH :fts").bindparams(fts=_fts5_query(terms))
        ).order_by(fts.c.rowid.desc())
    else:
        query = query.where(_ts_match(Message.text, terms), INDEXED_MESSAGES).order_by(Message.id.desc())
    rows: list[Any] = list((await session.execute(_filtered(query, org_id, filters).limit(limit))).all())
    return [
        Hit(conversation_id=conv_id, customer_id=customer_id, customer_name=name or f"Visitor #{customer_id}", channel=channel,
            status=status, text=body, at=at, message_id=message_id)
        for message_id, body, at, conv_id, customer_id, channel, status, name in rows
    ]


async def _customers(session: AsyncSession, org_id: int, terms: list[str], limit: int, sqlite: bool) -> list[CustomerHit]:
    query = select(Customer.id, Customer.name, Customer.email, Customer.phone).where(Customer.org_id == org_id)
    if sqlite:
        fts = table("search_customers", column("rowid"))
        query = query.join(fts, fts.c.rowid == Customer.id).where(
            text("search_customers MATCH :fts").bindparams(fts=_fts5_query(terms))
        ).order_by(fts.c.rowid.desc())  # the index's own order: no sort of every match
    else:
        document = func.coalesce(Customer.name, "") + " " + func.coalesce(Customer.email, "") + " " + func.coalesce(Customer.phone, "")
        like = "%" + " ".join(terms).replace("%", "").replace("_", "") + "%"
        query = query.where(or_(
            _ts_match(document, terms),
            Customer.email.ilike(like), Customer.phone.like(like),
        )).order_by(Customer.id.desc())
    rows = (await session.execute(query.limit(limit))).all()
    return [CustomerHit(customer_id=i, name=name or f"Visitor #{i}", email=email, phone=phone) for i, name, email, phone in rows]
