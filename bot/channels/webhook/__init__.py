"""Outbound JSON webhooks (deletion notices to third-party apps)."""
