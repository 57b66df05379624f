"""Every module that defines tables, imported so Base.metadata knows them all (migrations, tests)."""

from bot.core import (
    models,  # noqa: F401
    notification_models,  # noqa: F401
    slack_models,  # noqa: F401
    telegram_models,  # noqa: F401
    verification_models,  # noqa: F401
)
from bot.core.canned_replies import models as canned_reply_models  # noqa: F401
from bot.core.search import models as search_models  # noqa: F401
from bot.core.triage import models as triage_models  # noqa: F401
from bot.core.widget import models as widget_models  # noqa: F401
