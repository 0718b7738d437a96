"""Intake's periodic work: the gauges read from Postgres, forgetting old platform deliveries, and
the housekeeping of tickets (automatic answers deflected, pending tickets reminded and solved, solved
tickets closed).

Housekeeping acts in batches, each one transaction taking the due tickets with SKIP LOCKED: two
intake instances sweeping at once never act on one ticket twice, and a ticket acted on is no longer
due (solved, closed, reminded), so a run redone after a crash does nothing twice. Time is the
runtime's clock (`ctx.now`), read once per run."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta

from runtime.clock import SystemClock
from runtime.db import Connection, Database
from runtime.metrics import counted_on_commit

from . import metrics
from .context import Context
from .domain.lifecycle import ACTIVE
from .domain.settings import Housekeeping, days
from .domain.ticket import Ticket
from .handlers import assignment
from .handlers import housekeeping as act
from .handlers.shops import seed_shops as seed_from_file
from .repository import assignment as queues
from .repository import audit as audit_log
from .repository import erasure, platforms, shop_settings, tickets
from .repository import housekeeping as due
from .repository import privacy as privacy_repo
from .repository import shops as shop_keys

log = logging.getLogger(__name__)

Find = Callable[[Connection], Awaitable[list[Ticket]]]
Act = Callable[[Connection, Ticket], Awaitable[bool]]


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


async def housekeeping(db: Database, ctx: Context) -> None:
    """One run of every housekeeping step, in this order: a ticket solved by one step is not reminded
    by the next, and one that stayed solved long enough closes in the same run."""
    now = ctx.now()
    shops = [shop.id for shop in ctx.shops]
    async with db.pool.acquire() as conn:
        settings = await shop_settings.housekeeping(conn, shops)
    batch = ctx.config.housekeeping_batch
    solve_by = _cutoffs(settings, now, lambda s: s.solve_pending_after_days)
    remind_by = _cutoffs(settings, now, lambda s: s.remind_pending_after_days)
    close_by = _cutoffs(settings, now, lambda s: s.close_solved_after_days)
    await _in_batches(
        db,
        batch,
        lambda conn: due.deflection_due(conn, shops, now, batch),
        lambda conn, t: act.deflect(conn, ctx, t, now),
    )
    await _in_batches(
        db,
        batch,
        lambda conn: due.unanswered_pending(conn, solve_by, batch),
        lambda conn, t: act.solve_unanswered(conn, ctx, t, settings[t.shop_id], now),
    )
    await _in_batches(
        db,
        batch,
        lambda conn: due.reminders_due(conn, remind_by, batch),
        lambda conn, t: act.remind(conn, ctx, t, settings[t.shop_id], now),
    )
    await _in_batches(
        db,
        batch,
        lambda conn: due.solved_before(conn, close_by, batch),
        lambda conn, t: act.auto_close(conn, ctx, t, settings[t.shop_id], now),
    )


def _cutoffs(
    settings: Mapping[str, Housekeeping], now: datetime, after: Callable[[Housekeeping], float | None]
) -> dict[str, datetime]:
    """shop -> the latest start a ticket may have to be due now (shops with the step off left out)."""
    found: dict[str, datetime] = {}
    for shop_id, one in settings.items():
        delay = days(after(one))
        if delay is not None:
            found[shop_id] = now - delay
    return found


async def _in_batches(db: Database, batch: int, find: Find, action: Act) -> None:
    """Batches of due tickets, each in its own transaction, until a batch is short. A batch in which
    a ticket found due was not acted on ends the run too: the next run finds it again, never a loop."""
    while True:
        with counted_on_commit():
            async with db.transaction() as conn:
                found = await find(conn)
                acted = [await action(conn, ticket) for ticket in found]
        if len(found) < batch or not all(acted):
            return


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


async def apply_retention(db: Database, ctx: Context) -> None:
    """Message texts past each shop's retention (its own setting, else the service's) purged a batch
    per transaction, and the rows of privacy exports past theirs dropped (docs/privacy.md)."""
    now, batch = ctx.now(), ctx.config.retention_batch
    shops = [shop.id for shop in ctx.shops]
    async with db.pool.acquire() as conn:
        own = await privacy_repo.retention_of_shops(conn, shops)
    for shop_id in shops:
        kept_days = own.get(shop_id) or ctx.config.message_body_retention_days
        purged = batch if kept_days is not None else 0
        while purged == batch:
            async with db.transaction() as conn:
                purged = await erasure.purge_message_bodies(
                    conn, shop_id, now - timedelta(days=kept_days or 0), batch
                )
            metrics.RETENTION_PURGED.labels("message_body").inc(purged)
    async with db.transaction() as conn:
        expired = await privacy_repo.expire_exports(
            conn, now - timedelta(days=ctx.config.privacy_export_days)
        )
    metrics.RETENTION_PURGED.labels("privacy_export").inc(expired)


async def measure_privacy(db: Database, ctx: Context) -> None:
    """The privacy requests some service has not answered yet and the oldest one's age (one that
    grows old is a service down or failing: CareLoopPrivacyRequestUnanswered)."""
    async with db.pool.acquire() as conn:
        count, oldest = await privacy_repo.pending(conn)
    metrics.PRIVACY_PENDING.set(count)
    age = 0.0 if oldest is None else max(0.0, (ctx.now() - oldest).total_seconds())
    metrics.PRIVACY_OLDEST_PENDING.set(age)


async def seed_shops(db: Database, ctx: Context) -> None:
    """Once at start: the JSON file's shops onto shops.state (handlers.seed_shops), retried until it
    went through."""
    while True:
        try:
            with counted_on_commit():
                async with db.transaction() as conn:
                    states = await seed_from_file(conn, ctx, list(ctx.shops), SystemClock().now())
            if states and ctx.take_shops is not None:
                await ctx.take_shops(states)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("intake: seeding the shops of the file failed; retrying")
            await asyncio.sleep(1.0)


async def hand_out_queues(db: Database, ctx: Context) -> None:
    """Every team that assigns by itself and has tickets waiting: the oldest to whoever has room,
    one transaction per team (wall time). A safety net: the queue is also handed out when a ticket
    finishes or an agent comes back; a team another transaction holds is left to it."""
    async with db.pool.acquire() as conn:
        queued = await queues.queued_teams(conn)
    for shop_id, team_id in queued:
        if shop_id not in ctx.shops:
            continue
        with counted_on_commit():
            async with db.transaction() as conn:
                await assignment.hand_out_queue(conn, ctx, shop_id, team_id, ctx.config.assignment_batch)


async def store_key_uses(db: Database, ctx: Context) -> None:
    """The keys' last uses since the previous run, from memory into shop_keys (wall time). A run
    that fails loses them: a last use is a hint, never a reason to slow a request down."""
    uses = ctx.shops.take_uses()
    if uses:
        async with db.pool.acquire() as conn:
            await shop_keys.record_uses(
                conn, [(shop, key, datetime.fromtimestamp(at, UTC)) for (shop, key), at in uses.items()]
            )
