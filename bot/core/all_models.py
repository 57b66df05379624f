"""Every module that defines tables, imported so Base.metadata knows them all (migrations, tests)."""

from bot.core import (
    models,  # noqa: F401
    notification_models,  # noqa: F401
    slack_models,  # noqa: F401
    telegram_models,  # noqa: F401
    verification_models,  # noqa: F401
)
from bot.core.orgs import models as orgs_models  # noqa: F401
