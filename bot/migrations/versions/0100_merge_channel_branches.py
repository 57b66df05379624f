"""merge the Telegram, notifications and verification branches into one head

Revision ID: 0100
Revises: 0011, 0020, 0030
Create Date: 2026-11-29

The three features were built side by side, each on top of 0002. One head again means the next migration
has a single parent and `alembic revision --autogenerate` works without naming a branch.
"""

from collections.abc import Sequence

revision: str = "0100"
down_revision: str | Sequence[str] | None = ("0011", "0020", "0030")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
