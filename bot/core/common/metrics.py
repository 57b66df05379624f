"""Prometheus metrics (one process-wide registry, served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

INBOUND = Counter("incs_inbound_messages", "Inbound customer events stored", ["channel"], registry=REGISTRY)
OUTBOUND = Counter("incs_outbound_messages", "Outbound delivery attempts by result", ["channel", "result"], registry=REGISTRY)
OUTBOX_BACKLOG = Gauge("incs_outbox_backlog", "Outbox items pending or in flight", registry=REGISTRY)
DELIVERY_LATENCY = Histogram(
    "incs_delivery_latency_seconds",
    "From outbox enqueue to confirmed delivery",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
INGEST_BATCH = Histogram(
    "incs_ingest_batch_size", "Events per group commit", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=REGISTRY
)
OUTBOX_ITEMS = Gauge(
    "incs_outbox_items", "Outbox items by channel and state (pending, sending, failed)", ["channel", "state"], registry=REGISTRY
)
OUTBOX_OLDEST_PENDING = Gauge(
    "incs_outbox_oldest_pending_seconds", "Age of the oldest undelivered outbox item", registry=REGISTRY
)
SENDS_PER_ITEM = Histogram(
    "incs_outbox_sends_per_item",
    "Recorded deliveries per outbox item when it is marked sent; above 1 is a duplicate",
    ["channel"],
    buckets=(1, 2, 3, 5, 10),
    registry=REGISTRY,
)


def set_outbox(by_state: dict[tuple[str, str], int], oldest_pending_seconds: float) -> None:
    """Outbox gauges as measured now (labels no longer present are dropped, not left at their last value)."""
    OUTBOX_ITEMS.clear()
    for (channel, state), count in by_state.items():
        OUTBOX_ITEMS.labels(channel, state).set(count)
    OUTBOX_OLDEST_PENDING.set(oldest_pending_seconds)
INVALID_UPDATES = Counter(
    "incs_invalid_updates", "Platform updates refused as unreadable (acknowledged, never retried)", ["channel"], registry=REGISTRY
)
