"""Organizations (tenants), their agents and sessions, and the per-organization audit chain."""
