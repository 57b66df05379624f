"""Security mechanisms features share: hostile-payload checks, login throttling and the password pool."""
