"""Wires the survey service into the shared runtime."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from runtime.binding import each, fold
from runtime.consumer import Consumer
from runtime.service import ServiceApp, ServiceRuntime
from runtime.settings import Settings
from schemas import topics
from services.survey import handlers, sweeps
from services.survey.api import build_api
from services.survey.config import SurveyConfig

MIGRATIONS = Path(__file__).parent / "migrations"


def orders_consumer(ctx: handlers.Context) -> Consumer:
    return fold("survey-orders", ctx, handlers.ORDER_RULES, handlers.on_order_events)


def build(settings: Settings, config: SurveyConfig | None = None) -> ServiceApp:
    config = config or SurveyConfig()
    runtime = ServiceRuntime(settings, MIGRATIONS)

    def now() -> datetime:
        return runtime.clock.now()  # read at call time: tests swap in a ManualClock after build

    ctx = handlers.Context(
        shops=runtime.shops,
        config=config,
        topic=runtime.topic(topics.SURVEYS),
        public_base_url=settings.public_base_url,
        now=now,
    )
    runtime.consume(topics.ORDERS, orders_consumer(ctx))
    runtime.consume(
        topics.TICKETS,
        each(
            "survey-tickets",
            ctx,
            {
                "ticket.created": handlers.on_ticket_created,
                "ticket.status_changed": handlers.on_ticket_status_changed,
                "ticket.reopened": handlers.on_ticket_reopened,
                "ticket.merged": handlers.on_ticket_merged,
                "ticket.solved": handlers.on_ticket_solved,
            },
        ),
    )

    async def send_due() -> None:
        await sweeps.send_due(runtime.db, ctx, runtime.clock)

    async def refresh_gauges() -> None:
        await sweeps.refresh_score_gauges(runtime.db, ctx, runtime.clock)

    runtime.every("survey-send-due", config.sweep_seconds, send_due)
    runtime.every("survey-score-gauges", config.score_gauge_seconds, refresh_gauges)
    runtime.api = build_api(runtime.db, ctx, now)
    return runtime.asgi()
