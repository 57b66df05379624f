"""Every module that defines tables, imported so Base.metadata knows them all (migrations, tests)."""

from bot.core import models  # noqa: F401
