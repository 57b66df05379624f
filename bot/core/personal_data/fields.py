"""What every exported field means (the export package's README is built from this) and which fields are withheld.

A test checks that every column of every customer table is either described here or withheld with a reason."""

from __future__ import annotations

COMMON: dict[str, str] = {
    "id": "number of this record",
    "org_id": "the organization you talked to",
    "customer_id": "your customer number in that organization",
    "identity_id": "the channel account (web chat browser, Telegram or Slack user) the record came through",
    "conversation_id": "the conversation the record belongs to",
    "message_id": "the message the record belongs to",
    "created_at": "when the record was created (UTC)",
    "channel": "the channel: web, telegram, slack or email",
    "kind": "the kind of record",
    "status": "state of the record",
    "state": "state of the record",
    "detail": "further details of the event",
    "subject_type": "what kind of thing the event is about",
    "subject_id": "the number of the thing the event is about",
    "actor_type": "who acted: customer, agent, bot or system",
    "actor_id": "number of whoever acted",
    "action": "what was done",
    "assignee_id": "number of the agent handling it",
    "verified_at": "when your identity was confirmed (UTC)",
    "last_seen_at": "when you were last seen (UTC)",
    "chat_id": "Telegram chat number",
    "attempts": "delivery or entry attempts",
    "locked_until": "blocked until this time (UTC)",
    "sent_at": "when it was sent (UTC)",
    "expires_at": "when it stopped being valid (UTC)",
}

SPECIFIC: dict[str, str] = {
    "customers.name": "your name", "customers.email": "your email address", "customers.phone": "your phone number",
    "customers.locale": "language of the bot's messages", "customers.verification_method": "how you were verified (email or sms)",
    "customers.first_seen_at": "when you first wrote (UTC)",
    "channel_identities.external_id": "your id on that channel (Telegram user id, Slack user id, web chat visitor id)",
    "channel_identities.display_name": "your name as the channel showed it",
    "channel_identities.reachable": "whether we can still message you there",
    "channel_identities.flow_state": "where you were in a bot dialogue (language, pending steps)",
    "conversations.unread_count": "messages not yet read by an agent", "conversations.waiting_since": "since when you waited for a reply",
    "conversations.last_message_preview": "start of the latest message", "conversations.last_activity_at": "time of the latest message",
    "conversations.resolved_at": "when the conversation was closed",
    "messages.direction": "in: from you; out: to you; note: internal note", "messages.author_type": "customer, agent or bot",
    "messages.author_agent_id": "number of the agent who wrote it", "messages.text": "the message text",
    "messages.attachment_id": "the attached file (see files/ and attachments)", "messages.latitude": "shared location: latitude",
    "messages.longitude": "shared location: longitude", "messages.platform_message_id": "the message's number on the channel",
    "messages.delivery_state": "delivery state of a message to you", "messages.edited": "whether the message was edited",
    "attachments.filename": "the file's name (the file itself is in files/)", "attachments.mime_type": "the file's type",
    "attachments.size": "size in bytes", "attachments.sha256": "SHA-256 checksum of the file",
    "outbox.target": "your address on the channel a message was sent to", "outbox.payload": "the message as queued for sending",
    "outbox.message_id": "the message sent", "outbox.next_attempt_at": "next delivery attempt (UTC)",
    "outbox.last_error": "the channel's last delivery error",
    "consents.policy_version": "privacy policy version you answered", "consents.purpose": "what the consent is for",
    "consents.granted": "true: agreed; false: declined or withdrawn",
    "verification_challenges.destination": "the address a one-time code was sent to",
    "verification_locks.scope": "identity or destination", "verification_locks.key": "the identity number or address that was locked",
    "verification_locks.failures": "wrong codes entered", "verification_locks.last_failure_at": "time of the last wrong code",
    "verification_locks.lock_count": "how often it was locked",
    "audit_events.erased_at": "when the personal part of this log entry was erased",
    "audit_events.prev_hash": "hash of the previous log entry (tamper evidence)", "audit_events.hash": "hash of this log entry",
    "audit_events.personal_digest": "hash of this entry's personal part",
    "notification_events.title": "the notice staff received", "notification_events.url": "where staff could open it",
    "notification_events.dedup_key": "key that kept the notice from repeating",
    "notification_pushes.event_id": "the notice", "notification_pushes.agent_id": "staff member notified",
    "notification_pushes.target_kind": "how staff were notified", "notification_pushes.outbox_id": "the queued notice",
    "notification_pushes.read_at": "when staff read it",
    "telegram_chats.updated_at": "when you last chose an organization in Telegram",
    "telegram_topics.thread_id": "the agents' Telegram topic of your conversation",
    "telegram_topic_messages.topic_message_id": "the copy of a message in the agents' Telegram topic",
    "slack_threads.thread_ts": "the agents' Slack thread of your conversation",
    "rights_requests.number": "request number (RR-…)", "rights_requests.ground": "the ground you gave for deletion",
    "rights_requests.details": "what you asked for", "rights_requests.repeated": "flagged as a repeat of a recent request",
    "rights_requests.received_at": "when we received it", "rights_requests.due_at": "answer due by (UTC)",
    "rights_requests.paused_since": "waiting for your answer since", "rights_requests.paused_days": "days paused waiting for you",
    "rights_requests.extended_days": "days the deadline was extended", "rights_requests.extension_reason": "why it was extended",
    "rights_requests.outcome_reason": "the answer's reason", "rights_requests.closed_at": "when it was answered",
    "rights_requests.backup_until": "date until which backups may still hold erased data",
    "rights_requests.export_state": "state of the export package", "rights_requests.export_progress": "export progress (%)",
    "app_authorizations.app_id": "the third-party application", "app_authorizations.enabled": "whether you authorized it",
    "app_authorizations.changed_at": "when you last changed it",
    "rights_request_events.request_id": "the request", "rights_request_events.from_status": "status before",
    "rights_request_events.to_status": "status after", "rights_request_events.note": "the reason given",
}

WITHHELD: dict[str, str] = {
    "attachments.storage_path": "our internal storage location",
    "verification_challenges.code_hash": "a keyed hash of a one-time code: a security secret",
    "audit_events.personal_salt": "the random salt of the personal-part hash: a security secret",
    "outbox.idempotency_key": "an internal key", "outbox.state": "internal delivery state",
    "notification_pushes.address": "a staff member's address, not yours",
    "rights_requests.subject_hash": "a keyed hash used only to prove an honoured request",
    "rights_requests.export_path": "our internal storage location",
}


def describe(table: str, column: str) -> str | None:
    return SPECIFIC.get(f"{table}.{column}") or COMMON.get(column)


def withheld(table: str, column: str) -> bool:
    return f"{table}.{column}" in WITHHELD
