"""The database: engine and sessions (SQLite with WAL by default, PostgreSQL alike), the writer turn, the one-trip SQLite driver."""
