"""Intake's periodic work: the gauges read from Postgres, forgetting old platform deliveries."""

from __future__ import annotations

from datetime import datetime, timedelta

from runtime.clock import SystemClock
from runtime.db import Database

from . import metrics
from .context import Context
from .domain.lifecycle import ACTIVE
from .repository import audit as audit_log
from .repository import platforms, tickets


async def refresh_gauges(db: Database, ctx: Context) -> None:
    """Open tickets per shop and status, and the FCR share of the period's solved tickets."""
    shops = [shop.id for shop in ctx.shops]
    async with db.pool.acquire() as conn:
        counts = await tickets.open_ticket_counts(conn, shops)
        ratio = await tickets.fcr_ratio(conn, shops, ctx.now() - ctx.config.fcr_period)
    # every shop and status is set, so a status that emptied out drops to 0 instead of lingering
    for shop_id in shops:
        for status in ACTIVE:
            metrics.OPEN_TICKETS.labels(shop_id, status.value).set(counts.get((shop_id, status.value), 0))
    if ratio is not None:
        metrics.FCR_RATIO.set(ratio)


async def forget_platform_deliveries(db: Database, ctx: Context) -> None:
    """Forget the ids of platform deliveries older than any retry of theirs."""
    async with db.pool.acquire() as conn:
        before = ctx.now() - timedelta(days=ctx.config.platform_deliveries_kept_days)
        await platforms.forget_deliveries(conn, before)


async def purge_audit_log(db: Database, ctx: Context, now: datetime | None = None) -> None:
    """Delete the audit records older than the log's retention, a batch per transaction. Wall time
    (or `now`): the records carry wall-clock times (runtime/audit.py)."""
    before = (now or SystemClock().now()) - timedelta(days=ctx.config.audit_retention_days)
    while True:
        async with db.transaction() as conn:
            deleted = await audit_log.purge(conn, before, ctx.config.audit_purge_batch)
        metrics.AUDIT_PURGED.inc(deleted)
        if deleted < ctx.config.audit_purge_batch:
            return
