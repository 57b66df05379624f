"""Hardening: hostile input, resource limits, login throttling and sweeps that run once (issue 12)."""
