"""Periodic work: the timer sweep, and the gauges of open clocks and compliance.

The timer sweep claims due clocks and promises in bounded batches, fires them and commits once.

Each batch is one transaction: the rows are locked with FOR UPDATE SKIP LOCKED (another instance
takes the next rows instead of waiting), the events go to the outbox and the rows are marked in the
same commit, so a crash before the commit fires nothing and a crash after it fires nothing twice.
One item that cannot be processed is deferred on its own (a promise with the reason on its row); the
rest of the batch goes out, and the drain does not claim the deferred item again before its retry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial

from pydantic import ValidationError

from runtime.db import Connection, Database
from runtime.metrics import counted_on_commit, on_commit, shop_label
from runtime.outbox import enqueue_many
from services.sla import metrics
from services.sla import repository as repo
from services.sla.context import Context
from services.sla.domain import clocks
from services.sla.domain.reports import compliance_by_label
from services.sla.events import Outgoing, crossed_event, promise_breached_event

log = logging.getLogger(__name__)

COMPLIANCE_PERIOD = timedelta(days=7)
"""The compliance gauge covers clocks started this long ago or later (its help text says so)."""


class TimerSweep:
    """Batches of `ctx.config.sweep_batch` timers, with `sweep_workers` clock claimers."""

    def __init__(self, db: Database, ctx: Context) -> None:
        self._db = db
        self._ctx = ctx
        self._batch_size = ctx.config.sweep_batch
        self._workers = ctx.config.sweep_workers
        self._retry = ctx.config.timer_retry

    async def run(self) -> None:
        """Fire everything due now, then return; the caller sleeps until the next run. Promises are
        claimed beside the clocks, so a burst of clocks never holds them back."""
        await asyncio.gather(
            *(self._drain(self.fire_clocks) for _ in range(self._workers)), self._drain(self.fire_promises)
        )

    async def _drain(self, fire: Callable[[], Awaitable[int]]) -> None:
        # A full batch means more may be due: claim again at once instead of sleeping until the next
        # run, which only added lag under a burst. Every batch awaits Postgres several times, so the
        # consumers and the outbox relay still get the loop between batches.
        while await fire() == self._batch_size:
            pass

    async def fire_clocks(self) -> int:
        started = time.perf_counter()
        now = self._ctx.now()
        outgoing: list[Outgoing] = []
        async with self._transaction() as conn:
            claimed = await repo.claim_due_clocks(conn, now, self._batch_size)
            updated, deferred = [], []
            for record in claimed:
                try:
                    deadline = record.clock.deadline
                    if deadline is None:
                        raise ValueError("a running clock without a breach stage")
                    clock, crossed = clocks.fire_due(record.clock, now)
                    fired = replace(record, clock=clock)
                    outgoing += [crossed_event(fired, c, deadline, now, now) for c in crossed]
                    updated.append(clock)
                except Exception:
                    log.exception("sla: clock %s could not be fired; retrying later", record.clock.id)
                    on_commit(metrics.TIMER_FAILURES.labels("clock").inc)
                    deferred.append(record.clock.id)
            await repo.update_clocks(conn, updated)
            await repo.defer_clocks(conn, deferred, now + self._retry)
            await self._enqueue(conn, outgoing)
        metrics.SWEEP_SECONDS.labels("clock").observe(time.perf_counter() - started)
        return len(claimed)

    async def fire_promises(self) -> int:
        started = time.perf_counter()
        now: datetime = self._ctx.now()
        outgoing: list[Outgoing] = []
        async with self._transaction() as conn:
            claimed = await repo.claim_due_promises(conn, now, self._batch_size)
            breached, deferred = [], []
            for promise in claimed:
                try:
                    outgoing.append(promise_breached_event(promise, now, now))
                    breached.append(promise.id)
                except Exception as exc:
                    # Deferred, not left running: claimed again at once, it came back in every batch
                    # and a batch of them kept the drain loop claiming forever.
                    reason = failure_reason(exc)
                    log.error(
                        "sla: promise %s could not be fired (%s); retrying later",
                        promise.id,
                        reason,
                        exc_info=not isinstance(exc, ValidationError),
                    )
                    on_commit(metrics.TIMER_FAILURES.labels("promise").inc)
                    deferred.append((promise.id, reason))
            await repo.breach_promises(conn, breached, now)
            await repo.defer_promises(conn, deferred, now + self._retry)
            await self._enqueue(conn, outgoing)
        metrics.SWEEP_SECONDS.labels("promise").observe(time.perf_counter() - started)
        return len(claimed)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        """One batch's transaction; its metrics (events fired, failures) count only if it commits."""
        with counted_on_commit():
            async with self._db.transaction() as conn:
                yield conn

    async def _enqueue(self, conn: Connection, outgoing: list[Outgoing]) -> None:
        await enqueue_many(conn, self._ctx.out_topic, [(item.event, item.key) for item in outgoing])
        # made once the batch has committed: the timer lag is measured to the commit
        on_commit(partial(self._observe, outgoing))

    def _observe(self, outgoing: list[Outgoing]) -> None:
        committed_at = self._ctx.now()
        for item in outgoing:
            item.observe(committed_at)


def failure_reason(exc: Exception) -> str:
    """Why a timer could not be fired, for the log and the row. A validation error names the fields
    and what is wrong with them but not their values: those are the stored customer's."""
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc'])) or '(root)'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        )
        return f"invalid {exc.title}: {problems}"
    return f"{type(exc).__name__}: {exc}"


async def measure_clocks(db: Database, ctx: Context) -> None:
    """Refresh the open-clock and compliance gauges (shared state, so read from the database)."""
    async with db.pool.acquire() as conn:
        open_by_metric, finished = await repo.clock_statistics(conn, ctx.now() - COMPLIANCE_PERIOD)
    for metric in ("first_response", "next_response", "resolution"):
        metrics.OPEN_CLOCKS.labels(metric).set(open_by_metric.get(metric, 0))
    compliance = compliance_by_label(finished, shop_label)
    # Replaced whole, with no await in between (a scrape sees the old set or the new): a shop whose
    # targets all left the window no longer shows its last ratio.
    metrics.COMPLIANCE.clear()
    for (shop, metric), ratio in compliance.items():
        metrics.COMPLIANCE.labels(shop, metric).set(ratio)
