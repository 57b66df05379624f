"""Optional TOTP two-factor login (RFC 6238 through pyotp).

Guarantees: a code is accepted within one 30-second step either side of now, and only if its step is
newer than the last accepted one, so a code seen once (or an older one) is refused: no replay. The secret
lives only in the agent row, sealed (AES-GCM under a key derived from the server's secret_key, bound to the
agent's id: bot/core/security/sealed.py), so the column never holds it; a plaintext secret left by an older
version is read once and rewritten sealed. It never reaches a log. A second login step is carried by a short signed
token (agent id + expiry, HMAC with the secret key), so no half-signed-in session exists.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import pyotp
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.common.errors import Conflict, InvalidInput, Unauthorized
from bot.core.orgs.audit import record
from bot.core.orgs.models import Agent, Organization
from bot.core.orgs.permissions import Permission, may
from bot.core.security.sealed import Unreadable, open_value, seal

STEP = 30
PENDING_SECONDS = 300
PURPOSE = "totp"


def seal_secret(*, secret_key: str, agent_id: int, secret: str) -> str:
    return seal(secret_key=secret_key, purpose=PURPOSE, bound_to=f"agent:{agent_id}", value=secret)


def _secret(row: Agent, secret_key: str) -> str:
    """The agent's secret in clear, for this check only; a legacy plaintext row is sealed on the way."""
    try:
        opened = open_value(secret_key=secret_key, purpose=PURPOSE, bound_to=f"agent:{row.id}", stored=row.totp_secret)
    except Unreadable:
        raise Unauthorized("two-factor login cannot be checked (the server key changed): ask an admin") from None
    if opened.legacy:
        row.totp_secret = seal_secret(secret_key=secret_key, agent_id=row.id, secret=opened.value)
    return opened.value


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name="INCS Support")


def _matching_step(secret: str, code: str, at: float) -> int | None:
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int(at // STEP)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * STEP), code):
            return step
    return None


def _accept(agent: Agent, secret: str, code: str) -> None:
    step = _matching_step(secret, code, time.time())
    if step is None or step <= (agent.totp_last_step or 0):
        raise Unauthorized("wrong or already used code")
    agent.totp_last_step = step


async def enable(*, session: AsyncSession, agent: Agent, secret_key: str, secret: str, code: str) -> None:
    row = await session.get(Agent, agent.id)
    assert row is not None
    if len(secret) < 16 or not secret.isalnum():
        raise InvalidInput("secret: start the set-up again")
    _accept(row, secret, code)
    row.totp_secret = seal_secret(secret_key=secret_key, agent_id=row.id, secret=secret)
    await record(session=session, org_id=row.org_id, actor_type="agent", actor_id=row.id, action="enable_totp",
                 subject_type="agent", subject_id=row.id)


def required_for(agent: Agent, org: Organization | None) -> bool:
    return bool(org is not None and org.require_admin_totp and may(agent.role, Permission.TEAM_MANAGE))


async def totp_missing(*, session: AsyncSession, agent: Agent) -> bool:
    """An admin without two-factor login in an organization that requires it (one query, admins only)."""
    if agent.totp_secret or agent.org_id is None or not may(agent.role, Permission.TEAM_MANAGE):
        return False
    return required_for(agent, await session.get(Organization, agent.org_id))


async def disable(*, session: AsyncSession, agent: Agent, secret_key: str, code: str) -> None:
    row = await session.get(Agent, agent.id)
    assert row is not None
    org = await session.get(Organization, row.org_id) if row.org_id is not None else None
    if not row.totp_secret:
        raise InvalidInput("two-factor login is already off")
    if required_for(row, org):
        raise Conflict("your organization requires two-factor login for administrators")
    _accept(row, _secret(row, secret_key), code)
    row.totp_secret = ""
    await record(session=session, org_id=row.org_id, actor_type="agent", actor_id=row.id, action="disable_totp",
                 subject_type="agent", subject_id=row.id)


async def second_step(*, session: AsyncSession, agent_id: int, secret_key: str, code: str) -> Agent:
    row = await session.get(Agent, agent_id)
    if row is None or not row.active or not row.totp_secret:
        raise Unauthorized("sign in again")
    _accept(row, _secret(row, secret_key), code)
    return row


def pending_token(agent_id: int, key: str) -> str:
    expires = int(time.time()) + PENDING_SECONDS
    body = f"{agent_id}.{expires}"
    return f"{body}.{hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()}"


def read_pending_token(token: str, key: str) -> int:
    try:
        agent_id, expires, mac = token.split(".")
        ok = hmac.compare_digest(mac, hmac.new(key.encode(), f"{agent_id}.{expires}".encode(), hashlib.sha256).hexdigest())
        if ok and int(expires) >= time.time():
            return int(agent_id)
    except ValueError:
        pass
    raise Unauthorized("the sign-in took too long; start again")
