"""PostgreSQL with autovacuum off: the planner's statistics of our tables kept current by the app itself.

asyncpg prepares the hot statements once per connection, and PostgreSQL may keep a generic plan of each, made with
the statistics of the moment. Autovacuum analyzes a table once the rows changed since its last analysis exceed
`autovacuum_analyze_threshold` + `autovacuum_analyze_scale_factor` x its rows (50 + 10 % by default), and each
ANALYZE makes PostgreSQL plan the statements on that table again. With autovacuum off nothing analyzes: a plan made
on a new database stays while the tables grow. Measured (`BENCH_TELEGRAM_POSTGRES_URL`, autovacuum off): the
ingest preload sought the chats' (org_id, channel) and filtered the external ids, reading every identity of the
channel per batch, and warm Telegram chats went from 2,750 to 1,600 updates/s within 20,000 chats; with the tables
analyzed between rounds they stayed at 2,400-2,700.

So when the server's autovacuum is off, a sweep applies autovacuum's own rule (with the server's own settings) to the
tables of our schema and analyzes those past it. With autovacuum on (PostgreSQL's default) it reads one setting and
does nothing. Vacuuming (dead rows, freezing) stays the database administrator's: it is logged once.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

EVERY_SECONDS = 30.0

_AUTOVACUUM = text("SELECT current_setting('autovacuum')::boolean")
# Autovacuum's rule for analyzing (its per-table reloptions aside), on the tables of the schema we live in.
_STALE = text(
    """
    SELECT s.relname
    FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
    WHERE s.schemaname = current_schema()
      AND s.n_mod_since_analyze > current_setting('autovacuum_analyze_threshold')::float8
          + current_setting('autovacuum_analyze_scale_factor')::float8 * greatest(c.reltuples, 0)
    ORDER BY s.relname
    """
)


class PlannerStats:
    """The sweep: `await PlannerStats(engine).run()` returns the tables it analyzed."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.told = False  # the administrator was told, once, that autovacuum is off

    async def run(self) -> list[str]:
        if self.engine.dialect.name != "postgresql":
            return []
        async with self.engine.connect() as conn:
            if await conn.scalar(_AUTOVACUUM):
                return []
            if not self.told:
                self.told = True
                log.warning("PostgreSQL's autovacuum is off: INCS analyzes its own tables when they have changed "
                            "(planner statistics); vacuuming them is left to the database administrator")
            stale = [str(name) for name in await conn.scalars(_STALE)]
            await conn.commit()
            for name in stale:  # each in a transaction of its own: its lock is held only while it is analyzed
                await conn.execute(text(f'ANALYZE "{name}"'))  # a name read from the catalogue, quoted
                await conn.commit()
        if stale:
            log.debug("analyzed %d tables whose rows had changed: %s", len(stale), ", ".join(stale))
        return stale
