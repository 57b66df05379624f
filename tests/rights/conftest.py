"""Rights tests reuse the identity-check server (real SMTP sink) of tests/flows."""

from tests.fakes.smtp import smtp_sink  # noqa: F401 - fixture
from tests.flows.conftest import mail_server, org  # noqa: F401 - fixtures
