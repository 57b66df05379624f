"""Every module that defines tables, imported so Base.metadata knows them all (migrations, tests, the app).

It sits above the core because channel tables live with their channel (bot/channels/<name>/models.py).
"""

from bot.channels.slack import models as slack_models  # noqa: F401
from bot.channels.telegram import models as telegram_models  # noqa: F401
from bot.core.canned_replies import models as canned_models  # noqa: F401
from bot.core.conversations import models as conversation_models  # noqa: F401
from bot.core.delivery import models as delivery_models  # noqa: F401
from bot.core.files import models as file_models  # noqa: F401
from bot.core.identity import models as identity_models  # noqa: F401
from bot.core.notices import models as notice_models  # noqa: F401
from bot.core.notifications import models as notification_models  # noqa: F401
from bot.core.orgs import models as orgs_models  # noqa: F401
from bot.core.rights import models as rights_models  # noqa: F401
from bot.core.search import models as search_models  # noqa: F401
from bot.core.triage import models as triage_models  # noqa: F401
from bot.core.widget import models as widget_models  # noqa: F401
from bot.core.work_orders import models as work_order_models  # noqa: F401
