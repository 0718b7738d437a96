"""Periodic work: send or suppress due invitations; refresh the per-shop score gauges."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

import asyncpg

from runtime.db import Connection, Database
from runtime.metrics import counted_on_commit, on_commit
from runtime.outbox import enqueue
from runtime.reports import Period
from schemas.registry import make_event
from schemas.v1.common import Customer
from schemas.v1.surveys import SurveyInvited
from services.survey import reports, repository
from services.survey.context import SOURCE, Context
from services.survey.domain.kinds import SurveyKind
from services.survey.domain.throttle import decide
from services.survey.domain.tokens import hash_token
from services.survey.metrics import DECISIONS, RESPONSE_RATE, SCORE, SEND_FAILURES, SWEEP_SECONDS

log = logging.getLogger(__name__)


async def send_due(db: Database, ctx: Context) -> None:
    """One pass over due invitations, in one transaction; its metrics count only if it commits."""
    with SWEEP_SECONDS.time(), counted_on_commit():
        async with db.transaction() as conn:
            await send_batch(conn, ctx, ctx.now())


async def send_batch(conn: Connection, ctx: Context, now: datetime) -> int:
    """Lock a batch of due invitations (SKIP LOCKED, so replicas share the work) and decide each in its
    own savepoint: one failing invitation is counted and retried later, the rest go out. A savepoint
    rolled back takes its decision's count with it. Returns how many were sent."""
    sent = 0
    for inv in await repository.lock_due(conn, now, ctx.config.sweep_batch):
        try:
            with counted_on_commit():
                async with conn.transaction():
                    sent += await send_or_suppress(inv, conn, ctx, now)
        except Exception as exc:
            log.exception("survey %s: sending failed", inv["survey_id"])
            on_commit(SEND_FAILURES.labels(inv["kind"]).inc)
            async with conn.transaction():
                await repository.record_send_failure(
                    conn, inv["survey_id"], f"{type(exc).__name__}: {exc}", ctx.config.max_send_attempts
                )
    return sent


async def send_or_suppress(inv: asyncpg.Record, conn: Connection, ctx: Context, now: datetime) -> bool:
    """Decide one due invitation; True if it was sent."""
    inv = await repository.attach_origin_ticket(conn, inv)
    kind = SurveyKind(inv["kind"])
    decision = decide(now, ctx.config.window(kind), await repository.circumstances(conn, inv))
    await repository.record_decision(conn, inv, decision, now)
    on_commit(DECISIONS.labels(kind.value, decision.reason.value).inc)
    if not decision.send:
        await repository.mark_suppressed(conn, inv["survey_id"])
        return False
    token = secrets.token_urlsafe(32)
    expires_at = now + ctx.config.token_ttl
    await repository.mark_sent(conn, inv["survey_id"], hash_token(token), now, expires_at)
    invited = SurveyInvited(
        shop_id=inv["shop_id"],
        survey_id=inv["survey_id"],
        kind=kind,
        customer=Customer.model_validate(inv["customer"]),
        order_id=inv["order_id"],
        ticket_id=inv["ticket_id"],
        link=ctx.answer_link(inv["shop_id"], token),
        expires_at=expires_at,
        locale=inv["locale"],
    )
    await enqueue(
        conn, ctx.topic, make_event("survey.invited", SOURCE, invited, subject=inv["survey_id"], time=now)
    )
    return True


async def refresh_score_gauges(db: Database, ctx: Context) -> None:
    end = ctx.now() + timedelta(microseconds=1)  # reports are [from, to): include this very instant
    start = end - timedelta(days=ctx.config.score_gauge_days)
    async with db.pool.acquire() as conn:
        for shop in ctx.shops:
            for kind in SurveyKind:
                report = await reports.report(conn, shop.id, kind, Period(start, end, shop.timezone))
                if report.overall.score is not None:
                    SCORE.labels(shop.id, kind.value).set(report.overall.score)
                if report.overall.response_rate is not None:
                    RESPONSE_RATE.labels(shop.id, kind.value).set(report.overall.response_rate)
