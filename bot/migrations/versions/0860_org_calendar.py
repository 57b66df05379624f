"""organization business calendar (timezone, opening hours, holiday country); per-agent duration histograms

Revision ID: 0860
Revises: 0700
Create Date: 2026-11-30 06:00:00

The report counters gain a histogram per agent (rows with agent_id >= 0 and bucket >= 0) so per-agent medians can
be read; existing resolutions and first responses are counted into them here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0860'
down_revision: str | None = '0700'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('business_hours', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('holiday_country', sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('holiday_country')
        batch_op.drop_column('business_hours')
        batch_op.drop_column('timezone')
