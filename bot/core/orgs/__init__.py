"""Organizations (tenants), roles and the platform level: agents and sessions, permissions, team management,
sign-up, certification, the per-organization audit chain and reading it."""
