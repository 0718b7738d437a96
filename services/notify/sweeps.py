"""notify's periodic work besides the delivery worker: the queue gauges and the retention purge."""

from __future__ import annotations

from datetime import timedelta

from runtime.db import Database
from services.notify.context import Context
from services.notify.metrics import DLQ_SIZE, ENDPOINTS_DISABLED, OLDEST_PENDING_AGE, QUEUE_DEPTH
from services.notify.metrics import RETENTION_PURGED as BODIES_PURGED
from services.notify.repository import deliveries, email, lanes, privacy

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


async def purge_bodies(db: Database, ctx: Context) -> None:
    """The bodies of finished deliveries and reply e-mails past each shop's retention (its own
    setting, else the service's) replaced, a batch per transaction; the rows stay (docs/privacy.md)."""
    now, batch = ctx.now(), ctx.config.retention_batch
    shops = [shop.id for shop in ctx.shops]
    async with db.pool.acquire() as conn:
        own = await privacy.retention_of_shops(conn, shops)
    for shop_id in shops:
        kept_days = own.get(shop_id) or ctx.config.delivery_body_retention_days
        if kept_days is None:
            continue
        before = now - timedelta(days=kept_days)
        for kind in ("delivery_body", "email_body"):
            purged = batch
            while purged == batch:
                async with db.transaction() as conn:
                    purged = await privacy.purge_bodies(conn, kind, shop_id, before, batch)
                BODIES_PURGED.labels(kind).inc(purged)
