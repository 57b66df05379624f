"""Tables of work orders, their event history, conversation response clocks and CSAT answers.

Every row carries org_id. SLA deadlines are columns (`due_at`, `risk_at`), recomputed by sla.py on
each status or priority change; `next_alert_at` is the next crossing the sweep must announce, so
the sweep reads an index range, never the whole table.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.common.clock import now
from bot.core.storage.base import Base, Id
from bot.core.storage.tenancy import OrgScoped


class SlaColumns:
    """A business-time clock: target, due moment, at-risk moment, and what was already announced."""

    target_minutes: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # None while paused
    risk_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # None while paused or stopped
    remaining_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)  # business time left when paused
    paused_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    next_alert_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    risk_notified: Mapped[bool] = mapped_column(Boolean, default=False)
    breach_notified: Mapped[bool] = mapped_column(Boolean, default=False)
    sla_met: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # set when the clock stops
    # Sort key of the active queue: the due time while running, PAUSED_SORT while paused, None once stopped.
    queue_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


PAUSED_SORT = datetime(9999, 1, 1)


class WorkOrder(OrgScoped, SlaColumns, Base):
    """A customer's request tracked to resolution. `number` counts per organization (WO-000123)."""

    __tablename__ = "work_orders"
    __table_args__ = (
        UniqueConstraint("org_id", "number"),
        Index("ix_work_orders_alert", "next_alert_at"),
        Index("ix_work_orders_queue", "org_id", "queue_at", "id"),
        Index("ix_work_orders_risk", "org_id", "risk_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    number: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), nullable=True, index=True)
    channel: Mapped[str] = mapped_column(String(20), default="")
    category: Mapped[str] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(Text)
    attachment_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(12), default="new")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), nullable=True)
    opened_by_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    resolved_week: Mapped[date | None] = mapped_column(Date, nullable=True)  # Monday (UTC) of the resolution, for reports
    resolution_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)  # created -> resolved, wall time
    credited_agent_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the assignee its resolution counted for

    @property
    def label(self) -> str:
        return f"WO-{self.number:06d}"


class WorkOrderEvent(OrgScoped, Base):
    """One change to a work order (who, what, when). Notes are internal; replies went to the customer."""

    __tablename__ = "work_order_events"
    __table_args__ = (Index("ix_work_order_events_order", "work_order_id", "id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"))
    actor_type: Mapped[str] = mapped_column(String(10))  # customer | agent | system
    actor_id: Mapped[int | None] = mapped_column(Id, nullable=True)
    kind: Mapped[str] = mapped_column(String(20))  # created | status | priority | assign | note | reply | csat
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class ConversationClock(OrgScoped, SlaColumns, Base):
    """One response clock per waiting episode of a conversation (first response, then next responses)."""

    __tablename__ = "conversation_clocks"
    __table_args__ = (
        UniqueConstraint("conversation_id", "started_at"),
        Index("ix_conversation_clocks_alert", "next_alert_at"),
        Index("ix_conversation_clocks_active", "stopped_at", "conversation_id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # first | next
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    started_at: Mapped[datetime] = mapped_column(DateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), nullable=True)  # assignee when it stopped
    stopped_week: Mapped[date | None] = mapped_column(Date, nullable=True)
    response_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)  # started -> stopped, wall time


class CsatResponse(OrgScoped, Base):
    """A customer's 1-5 rating of a resolved work order or conversation; one per item."""

    __tablename__ = "csat_responses"
    __table_args__ = (
        UniqueConstraint("subject_type", "subject_id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    subject_type: Mapped[str] = mapped_column(String(20))  # work_order | conversation
    subject_id: Mapped[int] = mapped_column(Id)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), nullable=True)
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    week: Mapped[date] = mapped_column(Date)


class ReportCount(OrgScoped, Base):
    """Report counters (see rollup.py): per agent (bucket -1) and histograms for medians (agent_id -1)."""

    __tablename__ = "report_counts"
    __table_args__ = (UniqueConstraint("org_id", "week", "metric", "agent_id", "bucket"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    week: Mapped[date] = mapped_column(Date)
    metric: Mapped[str] = mapped_column(String(12))  # resolution | first | csat
    agent_id: Mapped[int] = mapped_column(Integer)  # 0: unassigned; -1: histogram row
    bucket: Mapped[int] = mapped_column(Integer)  # -1: per-agent row
    count: Mapped[int] = mapped_column(Integer, default=0)
    met: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)  # seconds, or rating points


def week_of(moment: datetime) -> date:
    """Monday (UTC) of the week a moment falls in: the reports' bucket."""
    day = moment.date()
    return day - timedelta(days=day.weekday())
