"""Every table of Base.metadata is classified in the personal-data registry, and every column an export shows is explained."""

from __future__ import annotations

from sqlalchemy import Column, Integer, Table

from bot.core.personal_data.fields import describe, withheld
from bot.core.personal_data.registry import REGISTRY, customer_entries, table, unclassified_tables
from bot.core.storage.base import Base


def test_every_table_is_classified() -> None:
    assert unclassified_tables() == [], "add an entry to bot/core/personal_data/registry.py for each new table"


def test_a_new_model_without_an_entry_is_caught() -> None:
    stray = Table("loyalty_points", Base.metadata, Column("id", Integer, primary_key=True), Column("customer_id", Integer))
    try:
        assert unclassified_tables() == ["loyalty_points"]
    finally:
        Base.metadata.remove(stray)


def test_entries_name_real_columns_and_customer_tables_have_an_owner() -> None:
    for name, entry in REGISTRY.items():
        columns = set(table(name).c.keys())
        assert set(entry.personal) <= columns, (name, set(entry.personal) - columns)
        if "customer_id" in columns or "conversation_id" in columns or "message_id" in columns:
            assert entry.belongs_to_customers, f"{name} links to a customer but says it holds no customer data"
        if not entry.belongs_to_customers:
            assert entry.why and not entry.personal, name


def test_every_exported_field_is_explained_or_withheld_with_a_reason() -> None:
    missing = [f"{e.table}.{c}" for e in customer_entries() for c in table(e.table).c.keys()
               if not withheld(e.table, c) and not describe(e.table, c)]
    assert missing == []


def test_the_registry_finds_what_the_foreign_key_walk_missed() -> None:
    owned = {e.table for e in customer_entries()}
    assert {"messages", "outbox", "verification_locks", "verification_challenges", "audit_events", "notification_events",
            "telegram_chats", "telegram_topic_messages", "slack_threads", "attachments"} <= owned
    assert any(e.files for e in customer_entries())
