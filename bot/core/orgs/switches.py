"""Service switches enforced: a feature that an organization turned off refuses at its entry point.

Guarantees: `require_on` reads the organization's switches from the database on each call, so a switch
turned off stops the next action at once, on every channel and in the workbench alike. It raises
`ServiceOff` (a Forbidden, so the workbench answers 403 with its message); flows catch it, or check
`is_on` first, and answer the customer politely in their language. Which entry points check which switch:
opening a work order and agents' actions on work orders (`work_orders`), opening a rights request of a
switchable type (`rights:<kind>`), defining third-party apps and changing a customer's authorization
(`apps`). Requests and work orders already open stay readable; rights requests already registered are
still answered (the law's deadline runs on).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.errors import Forbidden
from bot.core.orgs.models import Organization
from bot.core.orgs.profile import SERVICES, service_on

WORK_ORDERS, APPS = "work_orders", "apps"


class ServiceOff(Forbidden):
    code = "service_off"

    def __init__(self, key: str) -> None:
        super().__init__("%(service)s is turned off for this organization; "
                         "an administrator turns it on again in Organization settings", service=SERVICES.get(key, key))
        self.service = key  # the switch (`key` is the catalogues' message id, as on every domain error)


def rights_switch(kind: str) -> str | None:
    """The switch of a rights-request type, or None for a type that cannot be turned off."""
    key = f"rights:{kind}"
    return key if key in SERVICES else None


async def is_on(*, session: AsyncSession, org_id: int, key: str | None) -> bool:
    if key is None:
        return True
    org = await session.get(Organization, org_id)
    return org is None or service_on(org, key)


async def require_on(*, session: AsyncSession, org_id: int, key: str | None) -> None:
    if not await is_on(session=session, org_id=org_id, key=key):
        assert key is not None
        raise ServiceOff(key)
