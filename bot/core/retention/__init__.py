"""Retention: how long each category of data is kept (rules.py), the batched purge and its dry run (purge.py),
the nightly job (sweeps.py). Audit events are archived by segment in bot/core/orgs/audit_archive.py."""
