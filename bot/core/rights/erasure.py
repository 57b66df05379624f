"""Deleting a customer's data (rights request "delete") and cancelling the account ("cancel"), read from the registry.

Everything happens in the caller's transaction except removing files: `erase_customer` returns the files'
paths and `remove_files` deletes them after the commit, so a rolled-back erasure leaves every file in place.
The audit chain keeps its rows with the personal part blanked (still verifiable). Rights requests stay as the
non-identifying tombstone (number, kind, dates, outcome, keyed hash); their personal columns are blanked.
Scope `all` erases every registered table; scope `messages` erases what was said and sent (messages, files,
queued deliveries, mirrors) and keeps the profile and identities.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.errors import Conflict, InvalidInput, NotFound
from bot.core.conversations.models import Customer
from bot.core.orgs.audit import erase_personal_parts
from bot.core.personal_data.registry import Entry, Owner, erase_order, table

SCOPES: dict[str, frozenset[str] | None] = {
    "all": None,
    "messages": frozenset({"messages", "attachments", "outbox", "telegram_topic_messages", "notification_pushes",
                           "notification_events"}),
}


@dataclass
class ErasureReport:
    customer_id: int
    rows: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    chats: list[tuple[str, str]] = field(default_factory=list)  # (channel, external id) of the identities deleted
    removed: int = 0  # files removed after the commit (remove_files)


def subject_hash(secret_key: str, org_id: int, customer: Customer) -> str:
    """Keyed hash naming the person without revealing them: who holds the address can prove the request was theirs."""
    who = (customer.email or customer.phone or f"customer:{customer.id}").strip().lower()
    return hmac.new(secret_key.encode(), f"rights:{org_id}:{who}".encode(), hashlib.sha256).hexdigest()


async def _erase_entry(session: AsyncSession, entry: Entry, owner: Owner, cancel: bool) -> int:
    assert entry.owner is not None
    t = table(entry.table)
    cond = entry.owner(owner)
    if entry.erase == "delete":
        result = await session.execute(delete(t).where(cond))
    elif entry.erase == "blank":
        values = dict(entry.blank)
        if cancel and "customer_id" in t.c:
            values.update(customer_id=None, identity_id=None) if "identity_id" in t.c else values.update(customer_id=None)
        result = await session.execute(update(t).where(cond).values(**values))
    elif entry.erase == "audit":
        return await erase_personal_parts(session=session, org_id=owner.org_id, condition=cond)
    elif entry.erase == "customer":
        if cancel:
            result = await session.execute(delete(t).where(cond))
        else:
            result = await session.execute(update(t).where(cond).values(
                name="", email=None, phone=None, verified_at=None, verification_method=None, status="erased"))
    else:
        return 0
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def erase_customer(
    *, session: AsyncSession, org_id: int, customer_id: int, scope: str = "all", cancel: bool = False,
    secret_key: str = "",
) -> ErasureReport:
    """Erase one customer's data of one organization; `cancel` also removes the customer row itself."""
    if scope not in SCOPES:
        raise InvalidInput("unknown deletion scope %(scope)s", scope=repr(scope))
    customer = await session.get(Customer, customer_id)
    if customer is None or customer.org_id != org_id:
        raise NotFound("no such customer")
    if customer.status == "erased" and cancel is False and scope == "all":
        raise Conflict("this customer's data was already deleted")
    await session.flush()
    owner = Owner(org_id=org_id, customer_id=customer_id)
    if cancel and secret_key:
        r = table("rights_requests")
        await session.execute(update(r).where(r.c.org_id == org_id, r.c.customer_id == customer_id)
                              .values(subject_hash=subject_hash(secret_key, org_id, customer)))
    report = ErasureReport(customer_id=customer_id)
    wanted = SCOPES[scope]
    files = await _owned_files(session, owner)
    report.files = [path for _, path in files]
    if wanted is None:  # the identities go: the processes that keep chats in memory forget them after the commit
        i = table("channel_identities")
        found = await session.execute(select(i.c.channel, i.c.external_id).where(i.c.org_id == org_id, i.c.customer_id == customer_id))
        report.chats = [(str(channel), str(external_id)) for channel, external_id in found]
    for entry in erase_order():
        if wanted is not None and entry.table not in wanted:
            continue
        if entry.table == "attachments":  # by the ids found up front: the messages that led to them are gone by now
            count = await _delete_attachments(session, [ident for ident, _ in files])
        else:
            count = await _erase_entry(session, entry, owner, cancel)
        if count:
            report.rows[entry.table] = count
    if wanted is not None:
        c = table("conversations")
        await session.execute(update(c).where(c.c.org_id == org_id, c.c.customer_id == customer_id).values(last_message_preview=""))
    session.expunge_all()  # loaded objects are stale after the bulk statements
    return report


async def _owned_files(session: AsyncSession, owner: Owner) -> list[tuple[int, str]]:
    a = table("attachments")
    entry = next(e for e in erase_order() if e.table == "attachments")
    assert entry.owner is not None
    rows = await session.execute(select(a.c.id, a.c.storage_path).where(entry.owner(owner)))
    return [(int(ident), str(path)) for ident, path in rows.all()]


async def _delete_attachments(session: AsyncSession, ids: list[int]) -> int:
    a, m = table("attachments"), table("messages")
    count = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        await session.execute(update(m).where(m.c.attachment_id.in_(chunk)).values(attachment_id=None))
        result = await session.execute(delete(a).where(a.c.id.in_(chunk)))
        count += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return count


def remove_files(data_dir: Path, paths: list[str]) -> int:
    """After the commit: remove the erased attachments' files (a file already gone is fine)."""
    removed = 0
    for relative in paths:
        path = (data_dir / relative).resolve()
        if data_dir.resolve() in path.parents and path.is_file():
            path.unlink()
            removed += 1
    return removed
