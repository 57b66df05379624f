"""Organizations, roles and the platform level: permissions, team management, sign-up, certification, audit reading."""
