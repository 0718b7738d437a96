"""Periodic work: send or suppress due invitations; refresh the per-shop score gauges."""

from __future__ import annotations

import logging
from datetime import timedelta

from prometheus_client import Counter, Gauge, Histogram

from runtime.clock import Clock
from runtime.db import Database
from services.survey import handlers, reports, repository
from services.survey.domain.kinds import SurveyKind

log = logging.getLogger(__name__)

SWEEP_SECONDS = Histogram(
    "careloop_survey_sweep_seconds",
    "Time of one pass over due invitations",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SEND_FAILURES = Counter(
    "careloop_survey_send_failures_total", "Due invitations whose processing raised", ["kind"]
)
SCORE = Gauge(
    "careloop_survey_score",
    "Trailing score per shop: NPS (-100..100), CSAT (% of 4-5), CES (mean 1-7)",
    ["shop", "kind"],
)
RESPONSE_RATE = Gauge(
    "careloop_survey_response_rate_percent", "Trailing share of invitations answered", ["shop", "kind"]
)


async def send_due(db: Database, ctx: handlers.Context, clock: Clock) -> int:
    """One pass: lock a batch of due invitations (SKIP LOCKED, so replicas share the work) and decide
    each in its own savepoint: one failing invitation is counted and retried later, the rest go out."""
    sent = 0
    with SWEEP_SECONDS.time():
        async with db.transaction() as conn:
            now = clock.now()
            for inv in await repository.lock_due(conn, now, ctx.config.sweep_batch):
                try:
                    async with conn.transaction():
                        sent += await handlers.send_or_suppress(inv, conn, ctx, now)
                except Exception as exc:
                    log.exception("survey %s: sending failed", inv["survey_id"])
                    SEND_FAILURES.labels(inv["kind"]).inc()
                    async with conn.transaction():
                        await repository.record_send_failure(
                            conn,
                            inv["survey_id"],
                            f"{type(exc).__name__}: {exc}",
                            ctx.config.max_send_attempts,
                        )
    return sent


async def refresh_score_gauges(db: Database, ctx: handlers.Context, clock: Clock) -> None:
    end = clock.now() + timedelta(microseconds=1)  # reports are [from, to): include this very instant
    start = end - timedelta(days=ctx.config.score_gauge_days)
    async with db.pool.acquire() as conn:
        for shop in ctx.shops:
            for kind in SurveyKind:
                report = await reports.report(conn, shop.id, kind, start, end)
                if report.overall.score is not None:
                    SCORE.labels(shop.id, kind.value).set(report.overall.score)
                if report.overall.response_rate is not None:
                    RESPONSE_RATE.labels(shop.id, kind.value).set(report.overall.response_rate)
