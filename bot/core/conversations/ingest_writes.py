"""The ingest writer's bulk writes on SQLAlchemy Core: a batch's rows in a few statements, no unit-of-work flush.

What it guarantees:
- first contact in batches: the customers, identities and conversations of every new chat in a batch are
  created with one INSERT per table (ORM objects come back for the flows, already persistent);
- the batch's messages (each inbound message followed by its replies, in event order) are one multi-row
  INSERT ... RETURNING id, so ids ascend in the order the old one-by-one path gave them; the outbox rows
  follow in one executemany INSERT;
- conversation, identity and customer touches are recorded on the ORM objects as committed values (flows
  read them, nothing marks them dirty) and written as one UPDATE per set of touched columns, with each
  object's final value.
Rows a flow changes itself (flow state, locale, consent) stay with the ORM and are flushed at commit.

On PostgreSQL the messages INSERT and the touch UPDATEs take their rows as arrays (`unnest`): one statement text
whatever the batch's size (prepared once per connection, planned once) and one execution, where a multi-row
VALUES list was a new statement for every row count and an executemany UPDATE ran the statement once per row.
SQLite keeps the VALUES list and executemany, written by storage/sqlite_rows.py: SQL made once per shape and each
row's values converted there, without SQLAlchemy's per-row parameter processing (a fifth of a first contact's CPU).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, String, Table, TypeDecorator, bindparam, func, insert, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from bot.core.conversations.customers import LAST_SEEN_PRECISION
from bot.core.conversations.events import InboundEvent, Reply
from bot.core.conversations.models import ChannelIdentity, Conversation, Customer, Message
from bot.core.conversations.outbound import reply_payload
from bot.core.conversations.threads import preview
from bot.core.delivery.models import OutboxItem
from bot.core.delivery.outbox import note_queued
from bot.core.storage import sqlite_rows

Key = tuple[int, str, str]  # (org_id, channel, external_id)
MESSAGES: Table = Message.__table__  # type: ignore[assignment]
_PG = postgresql.dialect()  # type: ignore[no-untyped-call]
OUTBOX: Table = OutboxItem.__table__  # type: ignore[assignment]
_INSERT_OUTBOX = insert(OUTBOX)
_MESSAGE_COLUMNS = (
    "org_id", "conversation_id", "identity_id", "direction", "author_type", "author_agent_id", "kind", "text",
    "attachment_id", "latitude", "longitude", "platform_message_id", "delivery_state", "edited", "created_at",
)


def message_row(**values: Any) -> dict[str, Any]:
    """A messages row with every column set (executemany needs the same keys in every row)."""
    row = dict.fromkeys(_MESSAGE_COLUMNS)
    row.update(edited=False, kind="text", text="")
    row.update(values)
    return row


def row_json(row: dict[str, Any]) -> dict[str, Any]:
    """The same shape as serialize.message_json, from a row this batch wrote."""
    stamp: datetime = row["created_at"]
    return {
        "id": row["id"],
        "conversation_id": row["conversation_id"],
        "direction": row["direction"],
        "author": row["author_type"],
        "kind": row["kind"],
        "text": row["text"],
        "attachment_id": row["attachment_id"],
        "latitude": row["latitude"],
        "longitude": row["longitude"],
        "delivery_state": row["delivery_state"],
        "edited": row["edited"],
        "created_at": stamp.isoformat(timespec="seconds") + "Z",
    }


@dataclass
class FirstContact:
    """The chats of a batch that had no identity yet, created together."""

    identities: dict[Key, ChannelIdentity] = field(default_factory=dict)
    customers: dict[Key, Customer] = field(default_factory=dict)
    conversations: dict[Key, Conversation] = field(default_factory=dict)


async def create_first_contacts(*, session: AsyncSession, events: list[InboundEvent]) -> FirstContact:
    """One customer, identity and open conversation per distinct new chat of `events` (first occurrence names
    and locales them, as the one-by-one path did); one INSERT ... RETURNING per table."""
    firsts: dict[Key, InboundEvent] = {}
    for event in events:
        firsts.setdefault((event.org_id, event.channel, event.external_id), event)
    made = FirstContact()
    if not firsts:
        return made
    keys = list(firsts)
    customers = await _insert_returning(session, Customer, [
        {"org_id": e.org_id, "name": e.display_name, "locale": e.locale if e.locale in ("en", "zh") else "en"}
        for e in firsts.values()
    ])
    identities = await _insert_returning(session, ChannelIdentity, [
        {"org_id": e.org_id, "customer_id": c.id, "channel": e.channel, "external_id": e.external_id,
         "display_name": e.display_name, "flow_state": {}}
        for e, c in zip(firsts.values(), customers, strict=True)
    ])
    conversations = await _insert_returning(session, Conversation, [
        {"org_id": i.org_id, "customer_id": i.customer_id, "identity_id": i.id, "channel": i.channel} for i in identities
    ])
    for key, customer, identity, conversation in zip(keys, customers, identities, conversations, strict=True):
        made.customers[key], made.identities[key], made.conversations[key] = customer, identity, conversation
    return made


def _arrays(session: AsyncSession) -> bool:
    """Whether the batch's rows go as arrays (PostgreSQL)."""
    return session.get_bind().dialect.name == "postgresql"


# Statements built once per shape (SQLAlchemy memoizes a statement's cache key on the object; one built per batch
# paid for its construction and its cache key every time).
_INSERTS: dict[tuple[Any, Any], Any] = {}
_TOUCHES: dict[tuple[Table, frozenset[str]], Any] = {}


def _array_of(table: Table, name: str) -> ARRAY[Any]:
    """The column's type as an array; strings without their length (a cast to VARCHAR(n) would cut a longer value
    silently, where the column refuses it), ids as PostgreSQL's BIGINT."""
    kind = table.c[name].type
    if isinstance(kind, String):
        return ARRAY(String())
    return ARRAY(kind.load_dialect_impl(_PG) if isinstance(kind, TypeDecorator) else kind.dialect_impl(_PG))


def _unnest(table: Table, columns: list[str], *, prefix: str = "v_", ordinality: bool = False) -> Any:
    """unnest(:v_a::type[], :v_b::type[], ...) AS <table>_rows(v_a, v_b, ...[, ord]): one array parameter per
    column (bind names may not be column names in an INSERT or UPDATE, hence the prefix)."""
    rows = func.unnest(*(bindparam(f"{prefix}{name}", type_=_array_of(table, name)) for name in columns))
    names = [f"{prefix}{name}" for name in columns]
    alias = f"{table.name}_{prefix}rows"
    return rows.table_valued(*names, with_ordinality="ord" if ordinality else None).render_derived(name=alias)


Touches = tuple[tuple[Table, frozenset[str]], ...]  # a batch's sets of touched columns, in a fixed order


def _insert_messages_stmt(touches: Touches) -> Any:
    """PostgreSQL: INSERT INTO messages (...) SELECT ... FROM unnest(...) ORDER BY ord RETURNING id, with the
    batch's touch UPDATEs as data-modifying CTEs (one statement, one round trip; group i binds t<i>_id and
    t<i>_<column>). The rows are inserted in parameter order, so their ids ascend with it (SQLAlchemy's
    insertmanyvalues relies on the same)."""
    stmt = _INSERTS.get((MESSAGES, touches))
    if stmt is None:
        rows = _unnest(MESSAGES, list(_MESSAGE_COLUMNS), ordinality=True)
        source = select(*(rows.c[f"v_{name}"] for name in _MESSAGE_COLUMNS)).order_by(rows.c.ord)
        stmt = insert(MESSAGES).from_select(list(_MESSAGE_COLUMNS), source).returning(MESSAGES.c.id)
        ctes = [_touch_update(table, columns, f"t{i}_").cte(f"touched_{i}") for i, (table, columns) in enumerate(touches)]
        stmt = _INSERTS[(MESSAGES, touches)] = stmt.add_cte(*ctes) if ctes else stmt
    return stmt


def _insert_returning_all(table: Table) -> Any:
    """PostgreSQL: INSERT ... RETURNING every column, its rows in parameter order."""
    stmt = _INSERTS.get((table, "all"))
    if stmt is None:
        stmt = _INSERTS[(table, "all")] = insert(table).returning(*table.c, sort_by_parameter_order=True)
    return stmt


def _touch_update(table: Table, columns: frozenset[str], prefix: str) -> Any:
    names = sorted(columns)
    rows = _unnest(table, ["id", *names], prefix=prefix)
    return update(table).where(table.c.id == rows.c[f"{prefix}id"]).values({n: rows.c[f"{prefix}{n}"] for n in names})


def _touch_stmt(table: Table, columns: frozenset[str]) -> Any:
    """PostgreSQL: UPDATE table SET <columns> FROM unnest(:v_id, :v_<column>, ...) WHERE id = v_id (once); bind
    names may not be column names in an UPDATE's SET clause, hence the v_ prefix."""
    stmt = _TOUCHES.get((table, columns))
    if stmt is None:
        stmt = _TOUCHES[(table, columns)] = _touch_update(table, columns, "v_")
    return stmt


async def _insert_returning(session: AsyncSession, model: type[Any], rows: list[dict[str, Any]]) -> list[Any]:
    """INSERT ... RETURNING (one statement), the rows made persistent ORM objects in the rows' order. The ORM's own
    bulk INSERT loads its RETURNING rows through the query machinery, which cost more than the statement; here each
    object gets its columns' values as loaded state, is keyed and added to the session (clean, as if read by a
    query), so the flows use it as before and what they change is flushed. PostgreSQL: Core, RETURNING every
    column. SQLite: `sqlite_rows`, RETURNING the ids (and any column only the database fills); the other values
    are those it sent, defaults included."""
    table: Table = model.__table__
    conn = await session.connection()
    if not _arrays(session):  # SQLite
        insert_rows = _sqlite_insert(session, table, tuple(rows[0]), returning=True)
        fetched = sorted(await insert_rows.returning(conn, rows), key=lambda row: int(row[0]))
        processors = insert_rows.result_processors
        names = [column.name for column in table.c]
        values = []
        for row, back in zip(rows, fetched, strict=True):
            loaded = {name: row.get(name) for name in names}
            loaded.update((name, process(value)) for (name, process), value in zip(processors, back, strict=True))
            values.append(loaded)
    else:
        result = await conn.execute(_insert_returning_all(table), rows)
        names = list(result.keys())
        values = [dict(zip(names, row, strict=True)) for row in result.all()]
    new_instance = sa_inspect(model).class_manager.new_instance
    made = []
    for loaded in values:
        obj = new_instance()
        obj.__dict__.update(loaded)  # loaded state: no history, nothing dirty
        make_transient_to_detached(obj)
        made.append(obj)
    session.add_all(made)
    return made


_SQLITE_INSERTS: dict[tuple[str, tuple[str, ...], bool], sqlite_rows.Insert] = {}
_SQLITE_UPDATES: dict[tuple[str, tuple[str, ...]], sqlite_rows.Update] = {}


def _sqlite_insert(session: AsyncSession, table: Table, columns: tuple[str, ...], *, returning: bool) -> sqlite_rows.Insert:
    """The table's INSERT of these columns, written once; `returning`: the ids and any column only the database
    fills (a server default no Python default or row gives)."""
    key = (table.name, columns, returning)
    made = _SQLITE_INSERTS.get(key)
    if made is None:
        dialect = session.get_bind().dialect
        back = ["id"]
        if returning:
            back += [c.name for c in table.c if c.server_default is not None and c.default is None and c.name not in columns]
        made = _SQLITE_INSERTS[key] = sqlite_rows.Insert(table, columns, dialect, returning=back if returning else ())
    return made


def _sqlite_update(session: AsyncSession, table: Table, columns: tuple[str, ...]) -> sqlite_rows.Update:
    made = _SQLITE_UPDATES.get((table.name, columns))
    if made is None:
        made = _SQLITE_UPDATES[(table.name, columns)] = sqlite_rows.Update(table, columns, session.get_bind().dialect)
    return made


@dataclass
class BatchWrites:
    """Rows and touches a batch collects while its events are handled, written by `flush` in a few statements."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)  # (message row, outbox row)
    touched: dict[tuple[type[Any], int], tuple[Any, set[str]]] = field(default_factory=dict)

    def add_message(self, row: dict[str, Any]) -> dict[str, Any]:
        self.messages.append(row)
        return row

    def touch(self, obj: Any, **values: Any) -> None:
        """Set columns on a persistent ORM object without making it dirty; `flush` writes them."""
        for name, value in values.items():
            set_committed_value(obj, name, value)
        _, names = self.touched.setdefault((type(obj), obj.id), (obj, set()))
        names.update(values)

    def touch_inbound(self, conversation: Conversation, text: str, stamp: datetime) -> None:
        """threads.touch_inbound, as touches."""
        values: dict[str, Any] = {
            "last_activity_at": stamp, "unread_count": conversation.unread_count + 1, "last_message_preview": preview(text),
        }
        if conversation.waiting_since is None:
            values["waiting_since"] = stamp
        if conversation.status == "resolved":
            values.update(status="open", resolved_at=None)
        self.touch(conversation, **values)

    def touch_seen(self, identity: ChannelIdentity, customer: Customer, display_name: str, stamp: datetime) -> None:
        """customers.touch_seen, as touches."""
        if stamp - identity.last_seen_at > LAST_SEEN_PRECISION:
            self.touch(identity, last_seen_at=stamp)
            self.touch(customer, last_seen_at=stamp)
        if display_name and not identity.display_name:
            self.touch(identity, display_name=display_name)

    def add_reply(self, *, conversation: Conversation, identity: ChannelIdentity, reply: Reply, stamp: datetime) -> dict[str, Any]:
        """outbound.send_to_conversation for a bot reply: the thread copy and its outbox row, ids filled by `flush`."""
        row = self.add_message(message_row(
            org_id=conversation.org_id, conversation_id=conversation.id, identity_id=identity.id, direction="out",
            author_type="bot", kind="file" if reply.attachment_id else "text", text=reply.text,
            attachment_id=reply.attachment_id, delivery_state="pending", created_at=stamp,
        ))
        payload = reply_payload(reply)
        payload.update(conversation_id=conversation.id, customer_id=conversation.customer_id, author="bot")
        self.outbox.append((row, {
            "org_id": conversation.org_id, "channel": identity.channel, "target": identity.external_id, "payload": payload,
            "state": "pending", "attempts": 0, "next_attempt_at": stamp, "last_error": "", "created_at": stamp, "sends": 0,
        }))
        self.touch(conversation, last_activity_at=stamp)
        return row

    def one_statement(self, session: AsyncSession) -> bool:
        """Whether `flush` writes with one statement: on PostgreSQL the messages INSERT with the touches as its
        CTEs, when no reply queued an outbox row (a known chat's batch the flows did not answer)."""
        return _arrays(session) and bool(self.messages) and not self.outbox

    async def flush(self, session: AsyncSession) -> None:
        conn = await session.connection()
        arrays = _arrays(session)
        touches = self._touch_groups()
        if self.messages:
            if arrays:  # the touches go with the messages: one statement
                shape: Touches = tuple(touches)
                params = {f"v_{name}": [row[name] for row in self.messages] for name in _MESSAGE_COLUMNS}
                for i, ((_, columns), objs) in enumerate(touches.items()):
                    params.update(_touch_arrays(objs, columns, f"t{i}_"))
                ids = sorted((await conn.execute(_insert_messages_stmt(shape), params)).scalars().all())
                touches = {}
            else:  # SQLite: one multi-row INSERT; a VALUES list is inserted in order, so ids ascend with it
                messages = _sqlite_insert(session, MESSAGES, _MESSAGE_COLUMNS, returning=True)
                ids = sorted(int(row[0]) for row in await messages.returning(conn, self.messages))
            for row, new_id in zip(self.messages, ids, strict=True):
                row["id"] = new_id
        if self.outbox:
            rows = []
            for message, item in self.outbox:
                item["payload"]["message_id"] = message["id"]
                rows.append({**item, "message_id": message["id"], "idempotency_key": f"msg:{message['id']}"})
            if arrays:
                await conn.execute(_INSERT_OUTBOX, rows)
            else:
                await _sqlite_insert(session, OUTBOX, tuple(rows[0]), returning=False).many(conn, rows)
            note_queued(session, {item["channel"] for item in rows})
        for (target, columns), objs in touches.items():
            if arrays:
                await conn.execute(_touch_stmt(target, columns), _touch_arrays(objs, columns, "v_"))
            else:
                await _sqlite_update(session, target, tuple(sorted(columns))).many(conn, objs)

    def _touch_groups(self) -> dict[tuple[Table, frozenset[str]], list[Any]]:
        """The touched objects by (table, set of touched columns), in a fixed order of the groups."""
        groups: dict[tuple[Table, frozenset[str]], list[Any]] = defaultdict(list)
        for obj, names in self.touched.values():
            groups[(type(obj).__table__, frozenset(names))].append(obj)
        return dict(sorted(groups.items(), key=lambda group: (group[0][0].name, sorted(group[0][1]))))


def _touch_arrays(objs: list[Any], columns: frozenset[str], prefix: str) -> dict[str, list[Any]]:
    """One array per column, each object's final value (the ids as <prefix>id)."""
    return {f"{prefix}id": [obj.id for obj in objs], **{f"{prefix}{n}": [getattr(obj, n) for obj in objs] for n in columns}}
