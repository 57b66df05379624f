"""The codes the workbench shows (a status, a type, a state, an audit action...), by the catalogue context each is
translated under: a page writes `{{ order.status|code("work order status") }}` (bot/pages.py `code_filter`) and
shows `pgettext("work order status", code)`, the code with its underscores as spaces where the catalogue has none.

The English catalogue leaves a code's text empty (the code shows as its words), but where English needs other
words than the code: a channel's name ("webchat" is "Web chat", "telegram" "Telegram").

Each set is the domain's own where it has one. What is written in many places — the audit log's actions, actor
and subject types, and the keys of its events' detail — is listed here; tests/workbench/test_codes_i18n.py reads
bot/ and workbench/ for every value and detail key written to the audit log and fails on one missing here, and
tests/test_i18n.py on a code without a Chinese text.
"""

from __future__ import annotations

from bot.config import PRIORITIES
from bot.core.business_time import WEEKDAYS
from bot.core.certification.applications import ORG_STATES
from bot.core.certification.applications import STATES as APPLICATION_STATES
from bot.core.conversations.models import CHANNELS, DELIVERY_STATES
from bot.core.conversations.threads import STATUSES as CONVERSATION_STATUSES
from bot.core.delivery.models import STATES as OUTBOX_STATES
from bot.core.identity.codes import METHODS as VERIFICATION_METHODS
from bot.core.notices.broadcasts import KINDS as BROADCAST_KINDS
from bot.core.notices.broadcasts import STATES as BROADCAST_STATES
from bot.core.notifications.models import PUSH_STATES
from bot.core.orgs.permissions import Role
from bot.core.rights.apps import NOTICE_CHANNELS, NOTICE_STATES
from bot.core.rights.fulfil import EXPORT_STATES
from bot.core.rights.requests import CLOSED, CORRECTABLE, DENIAL_REASONS, DETAIL_KEYS, GROUNDS, KINDS, OPEN, TIMELINE_ACTIONS
from bot.core.work_orders.services import EVENT_KINDS, STATUSES

# Who did it: the audit log's actor_type, which work-order and rights timelines show too.
ACTORS = ("agent", "customer", "system", "anonymous", "platform", "platform_admin")

# What the audit log names as the subject of an event (subject_type; "" when there is none).
AUDIT_SUBJECTS = (
    "agent", "attachment", "broadcast", "certification", "channel_identity", "conversation", "customer", "grant",
    "invitation", "organization", "policy_version", "rights_request", "verification_destination", "verification_lock",
    "work_order",
)

# Every action the audit log records: the fixed names, then the two families written as a prefix and a code.
AUDIT_ACTIONS = (
    # sign-in, account and team
    "login", "login_failed", "login_totp_failed", "password_reset_requested", "password_reset", "change_password",
    "enable_totp", "disable_totp", "reset_totp", "sign_up", "invite_agent", "accept_invitation", "change_role",
    "transfer_main_admin", "deactivate_agent", "reactivate_agent",
    # the organization and the platform
    "update_profile", "update_logo", "update_settings", "update_business_hours", "certification_submitted",
    "certification_approved", "certification_rejected", "view_license", "grant_platform_access",
    "revoke_platform_access", "platform_view_conversation", "policy_published", "broadcast_created",
    "broadcast_started", "broadcast_done", "retention.run",
    # conversations and customers
    "view_inbox", "view_conversation", "reply", "note", "assign", "set_status", "view_file", "edit_customer", "search",
    "ask_to_verify", "identity_verified", "verification_locked", "view_verification_locks", "unlock_verification",
    "customer_merged", "view_work_orders", "view_work_order", "view_reports", "view_audit_log", "export_audit_log",
    # privacy rights
    "view_rights_request", "download_export", "rights_erased", "app_authorized", "app_revoked",
    "deletion_notice_acknowledged",
    *(f"work_order_{kind}" for kind in EVENT_KINDS),  # bot/core/work_orders/services.py log_event
    *(f"rights_{action}" for action in TIMELINE_ACTIONS),  # bot/core/rights/requests.py _timeline
)

# The keys of an audit event's detail (shown as "key: value" on the audit log page; the CSV keeps the JSON), by who
# writes them: every `record(..., detail={...})` in bot/ and workbench/, and the keyword arguments handed on to it
# by bot/core/orgs/team.py `_audit` and bot/core/work_orders/services.py `log_event` (all but a reply's "text").
AUDIT_DETAIL_KEYS = (
    # sign-in, account and team
    "ip", "totp", "via", "role", "by", "before", "after",
    # the organization, the platform and retention
    "fields", "changes", "timezone", "hours", "holiday_country", "reason", "grant_id", "kind", "recipients",
    "version", "major", "removed", "seconds", "moment",
    # conversations, customers and identity
    "conversation_id", "message_id", "assignee_id", "status", "rows", "filter", "filters", "words", "since", "until",
    "merged_customer_id", "moved", "category", "scope", "identity_id", "locked_until", "lock_count", "method",
    "channel", "merged_from", "work_order",
    # work orders and privacy rights
    "number", "priority", "rating", "from", "to", "request_id", "app_id", "cancel",
)

CODES: dict[str, tuple[str, ...]] = {
    "conversation status": CONVERSATION_STATUSES,
    "priority": PRIORITIES,
    "channel": CHANNELS + NOTICE_CHANNELS,  # named in the English catalogue too: "webchat" is "Web chat"
    "delivery state": DELIVERY_STATES,  # a message's; also words on <body> for workbench.js (base.html)
    "notification delivery state": PUSH_STATES + OUTBOX_STATES,  # a queued push shows its outbox item's
    "verification method": VERIFICATION_METHODS,  # a customer's; "verified by %(method)s" (conversation.html)
    "weekday": WEEKDAYS,
    "work order status": STATUSES,
    "work order event": EVENT_KINDS,
    "rights request type": KINDS,
    "rights request status": OPEN + CLOSED,
    "rights timeline": TIMELINE_ACTIONS,
    "rights request detail": DETAIL_KEYS,  # a request's details: the keys, and a correction's field
    "customer field": CORRECTABLE,
    "deletion ground": GROUNDS,
    "denial reason": DENIAL_REASONS,
    "export state": EXPORT_STATES,
    "deletion notice state": NOTICE_STATES,
    "certification state": tuple(dict.fromkeys(APPLICATION_STATES + ORG_STATES)),
    "broadcast kind": BROADCAST_KINDS,
    "broadcast state": BROADCAST_STATES,
    "role": tuple(role.value for role in Role),
    "actor": ACTORS,
    "audit action": AUDIT_ACTIONS,
    "audit subject": AUDIT_SUBJECTS,
    "audit detail": AUDIT_DETAIL_KEYS,  # named in the English catalogue where the key is terse ("ip": "IP address")
}
