"""Work orders and SLA clocks: models, services (open, change, CSAT), conversation clocks, the sweep, reports.

Deadlines are data (`due_at`, `risk_at`, `next_alert_at` columns) computed in business time by
bot.core.business_time; the sweep announces each crossing once (dedup keys).
"""
