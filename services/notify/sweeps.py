"""notify's periodic work besides the delivery worker: the queue gauges and the retention purge."""

from __future__ import annotations

from datetime import timedelta

from runtime.db import Database
from services.notify.context import Context
from services.notify.metrics import DLQ_SIZE, ENDPOINTS_DISABLED, OLDEST_PENDING_AGE, QUEUE_DEPTH
from services.notify.repository import deliveries, email, lanes

PURGE_BATCH = 1000
"""Deliveries deleted per statement: short statements, so the purge never holds the queue for long."""


async def measure_queue(db: Database, ctx: Context) -> None:
    """Queue depth, the oldest unfinished delivery's age (domain time), DLQ size, disabled endpoints."""
    async with db.pool.acquire() as conn:
        stats = await deliveries.queue_stats(conn)
    QUEUE_DEPTH.set(stats["depth"])
    oldest = stats["oldest"]
    OLDEST_PENDING_AGE.set(max(0.0, (ctx.now() - oldest).total_seconds()) if oldest else 0.0)
    DLQ_SIZE.set(stats["dead"])
    ENDPOINTS_DISABLED.set(stats["disabled"])


async def purge_finished(db: Database, ctx: Context) -> None:
    """Forget finished deliveries (and their attempts) and reply e-mails older than the retention
    period, and lane rows with nothing unfinished (those of deleted endpoints)."""
    cutoff = ctx.now() - timedelta(days=ctx.config.retention_days)
    while await deliveries.purge_finished(db, cutoff, PURGE_BATCH) == PURGE_BATCH:
        pass
    async with db.pool.acquire() as conn:
        await lanes.forget_idle(conn)
        while await email.purge_finished(conn, cutoff, PURGE_BATCH) == PURGE_BATCH:
            pass
