"""The one permission table: which role may do what. Pages, services and tests all read it from here.

Roles of an organization: `main_admin` (exactly one or more per organization, never zero), `admin`, `agent`.
`platform_admin` belongs to no organization: it reviews certifications and sees organization data only
through an access grant. A role missing from the table may do nothing.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from bot.core.common.errors import Forbidden


class Role(StrEnum):
    MAIN_ADMIN = "main_admin"
    ADMIN = "admin"
    AGENT = "agent"
    PLATFORM_ADMIN = "platform_admin"


class Permission(StrEnum):
    WORKBENCH = "workbench"  # the organization's inbox and conversations: reply, note, assign, status
    NOTIFICATIONS = "notifications"  # one's own workbench notification list
    PUSH_TARGETS = "push_targets"  # link a Telegram chat for one's own pushes
    ACCOUNT = "account"  # one's own password and two-factor login
    SECURITY_VIEW = "security_view"  # identity-check lockouts, channel health
    TEAM_MANAGE = "team_manage"  # invite, change roles (below main admin), deactivate
    MAIN_ADMIN_TRANSFER = "main_admin_transfer"  # hand the main administrator role to someone else
    ORG_PROFILE = "org_profile"  # name, brand, profile, logo, location, industry
    ORG_SETTINGS = "org_settings"  # service switches, two-factor requirement, platform access grants
    CERTIFICATION_APPLY = "certification_apply"
    AUDIT_READ = "audit_read"  # the audit log viewer and its CSV export
    ADMIN_PUSHES = "admin_pushes"  # receives the organization's admin notifications
    BROADCASTS = "broadcasts"  # incident, transfer and cessation notices to every customer
    PLATFORM_POLICY = "platform_policy"  # publish privacy-policy versions
    PLATFORM_REVIEW = "platform_review"  # certification review, organization list
    PLATFORM_GRANTED_READ = "platform_granted_read"  # conversations of an organization that granted access


_ORG_ADMIN = frozenset(
    {
        Permission.WORKBENCH,
        Permission.NOTIFICATIONS,
        Permission.PUSH_TARGETS,
        Permission.ACCOUNT,
        Permission.SECURITY_VIEW,
        Permission.TEAM_MANAGE,
        Permission.ORG_PROFILE,
        Permission.ORG_SETTINGS,
        Permission.CERTIFICATION_APPLY,
        Permission.AUDIT_READ,
        Permission.ADMIN_PUSHES,
        Permission.BROADCASTS,
    }
)

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.MAIN_ADMIN: _ORG_ADMIN | {Permission.MAIN_ADMIN_TRANSFER},
    Role.ADMIN: _ORG_ADMIN,
    Role.AGENT: frozenset({Permission.WORKBENCH, Permission.NOTIFICATIONS, Permission.PUSH_TARGETS, Permission.ACCOUNT}),
    Role.PLATFORM_ADMIN: frozenset(
        {Permission.ACCOUNT, Permission.NOTIFICATIONS, Permission.PLATFORM_REVIEW, Permission.PLATFORM_GRANTED_READ,
         Permission.PLATFORM_POLICY}
    ),
}

ORG_ROLES = (Role.MAIN_ADMIN, Role.ADMIN, Role.AGENT)


def may(role: str, permission: Permission) -> bool:
    try:
        return permission in PERMISSIONS[Role(role)]
    except ValueError:
        return False


def require(role: str, permission: Permission) -> None:
    if not may(role, permission):
        raise Forbidden("your role does not allow this")


def roles_with(permission: Permission) -> tuple[str, ...]:
    """Roles holding a permission, e.g. who receives an organization's admin pushes."""
    return tuple(role.value for role, granted in PERMISSIONS.items() if permission in granted)


class _Member(Protocol):
    org_id: int | None


def member_org_id(agent: _Member) -> int:
    """The organization of an agent acting in it. Platform admins have none (`org_id` NULL): organization pages
    are closed to them by the table above, and a service reached without one refuses (403) instead of running."""
    if agent.org_id is None:
        raise Forbidden("this belongs to an organization, and platform administrators have none")
    return agent.org_id
