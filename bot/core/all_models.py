"""Every module that defines tables, imported so Base.metadata knows them all (migrations, tests)."""

from bot.core import models  # noqa: F401
from bot.core import notification_models  # noqa: F401
from bot.core import telegram_models  # noqa: F401
from bot.core import verification_models  # noqa: F401
from bot.core import slack_models  # noqa: F401
