"""organization business calendar (timezone, opening hours, holiday country); per-agent duration histograms

Revision ID: 0860
Revises: 0840
Create Date: 2026-11-30 06:00:00

The report counters gain a histogram per agent (rows with agent_id >= 0 and bucket >= 0) so per-agent medians can
be read; existing resolutions and first responses are counted into them here.
"""

import math
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0860'
down_revision: str | None = '0840'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('business_hours', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('holiday_country', sa.String(length=8), nullable=True))
    _count_agent_histograms()


def _bucket(seconds: int) -> int:  # bot/core/work_orders/rollup.py bucket_of, as of this revision
    return int(math.log(max(seconds, 0) / 60 + 1, 1.05))


def _count_agent_histograms() -> None:
    """What rollup.py now counts as it happens, for the resolutions and first responses counted before."""
    bind = op.get_bind()
    cells: dict[tuple[Any, ...], list[int]] = {}
    sources = (
        ("resolution", "SELECT org_id, resolved_week, credited_agent_id, resolution_seconds, sla_met FROM work_orders"
                       " WHERE resolved_week IS NOT NULL AND resolution_seconds IS NOT NULL"),
        ("first", "SELECT org_id, stopped_week, agent_id, response_seconds, sla_met FROM conversation_clocks"
                  " WHERE kind = 'first' AND stopped_week IS NOT NULL AND response_seconds IS NOT NULL"),
    )
    for metric, query in sources:
        for org_id, week, agent_id, seconds, met in bind.execute(sa.text(query)):
            cell = cells.setdefault((org_id, week, metric, agent_id or 0, _bucket(seconds)), [0, 0, 0])
            cell[0], cell[1], cell[2] = cell[0] + 1, cell[1] + int(bool(met)), cell[2] + seconds
    rows = [{"org_id": key[0], "week": key[1], "metric": key[2], "agent_id": key[3], "bucket": key[4],
             "count": cell[0], "met": cell[1], "total": cell[2]} for key, cell in cells.items()]
    if rows:
        bind.execute(sa.text("INSERT INTO report_counts (org_id, week, metric, agent_id, bucket, count, met, total)"
                             " VALUES (:org_id, :week, :metric, :agent_id, :bucket, :count, :met, :total)"), rows)


def downgrade() -> None:
    op.execute("DELETE FROM report_counts WHERE agent_id >= 0 AND bucket >= 0 AND metric IN ('resolution', 'first')")
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('holiday_country')
        batch_op.drop_column('business_hours')
        batch_op.drop_column('timezone')
