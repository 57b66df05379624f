"""What an agent is told by email about their own account: a change they may not have asked for is a warning."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.clock import now
from bot.core.delivery.outbox import enqueue
from bot.core.orgs.models import Agent


async def tell_two_factor_reset(*, session: AsyncSession, agent: Agent, who: str) -> None:
    """After bot/core/orgs/team.reset_two_factor: the email is queued in the same transaction."""
    stamp = now()
    await enqueue(session=session, channel="email", target=agent.email, org_id=agent.org_id,
                  idempotency_key=f"totp-reset:{agent.id}:{stamp.isoformat()}",
                  payload={"subject": "Your two-factor login was turned off",
                           "text": f"{who} turned off the two-factor login of {agent.email} on INCS Support "
                                   f"({stamp:%Y-%m-%d %H:%M} UTC). Sign in with your password and set it up again on "
                                   "your account page. If you did not ask for this, tell your administrator at once."})
