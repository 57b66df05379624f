"""Intake by an agent on behalf of the customer, and the read side of a request's page and export download.

A request taken on behalf of a customer still needs the customer's fresh identity check: when their last
check is recent enough the clock starts at once; otherwise the request waits in `received` until the
customer verifies (the agent sends "Ask to verify") and an agent marks it verified.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.common.errors import Conflict, NotFound
from bot.core.conversations.models import Customer
from bot.core.conversations.threads import get_conversation
from bot.core.identity.verification import is_fresh
from bot.core.orgs.audit import record
from bot.core.rights import requests as rr
from bot.core.rights.apps import notices_of
from bot.core.rights.fulfil import acknowledge
from bot.core.rights.models import RightsRequest


async def open_on_behalf(
    *, session: AsyncSession, settings: Settings, org_id: int, conversation_id: int, agent_id: int, kind: str,
    ground: str = "", details: dict[str, Any] | None = None,
) -> RightsRequest:
    conversation = await get_conversation(session=session, org_id=org_id, conversation_id=conversation_id)
    request = await rr.open_request(session=session, settings=settings, org_id=org_id, customer_id=conversation.customer_id,
                                    identity_id=conversation.identity_id, kind=kind, ground=ground, details=details,
                                    actor_type="agent", actor_id=agent_id)
    await confirm_if_verified(session=session, settings=settings, request=request)
    return request


async def confirm_if_verified(*, session: AsyncSession, settings: Settings, request: RightsRequest) -> bool:
    """Start the clock when the customer's identity check is fresh; tell them the number and due date."""
    customer = await session.get(Customer, request.customer_id) if request.customer_id else None
    if request.status != "received" or customer is None or not is_fresh(customer, settings.verification):
        return False
    await rr.mark_verified(session=session, settings=settings, request=request)
    await acknowledge(session=session, request=request)
    return True


async def request_page(*, session: AsyncSession, org_id: int, request_id: int, agent_id: int) -> dict[str, Any]:
    """Everything the request page shows; viewing the customer's details is audited."""
    request = await rr.get_request(session=session, org_id=org_id, request_id=request_id)
    customer = await session.get(Customer, request.customer_id) if request.customer_id else None
    await record(session=session, org_id=org_id, actor_type="agent", actor_id=agent_id, action="view_rights_request",
                 subject_type="customer" if customer else "rights_request", subject_id=customer.id if customer else request.id,
                 detail={"request_id": request.id})
    return {"item": request, "customer": customer, "number": rr.request_number(request),
            "timeline": await rr.timeline(session=session, request=request),
            "notices": await notices_of(session=session, request_id=request.id)}


async def export_file(*, session: AsyncSession, data_dir: Path, org_id: int, request_id: int, agent_id: int) -> tuple[Path, str]:
    request = await rr.get_request(session=session, org_id=org_id, request_id=request_id)
    if request.export_state != "ready" or not request.export_path:
        raise Conflict("the export package is not ready")
    path = data_dir / request.export_path
    if not path.is_file():
        raise NotFound("the export package is gone (the customer's data was erased)")
    await record(session=session, org_id=org_id, actor_type="agent", actor_id=agent_id, action="download_export",
                 subject_type="rights_request", subject_id=request.id)
    return path, f"{rr.request_number(request)}-export.zip"
