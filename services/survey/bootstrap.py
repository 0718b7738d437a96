"""Wires the survey service into the shared runtime."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from runtime.consumer import Consumer, Handler
from runtime.db import Connection
from runtime.service import ServiceApp, ServiceRuntime
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import CloudEvent
from services.survey import handlers, sweeps
from services.survey.api import build_api
from services.survey.config import SurveyConfig

MIGRATIONS = Path(__file__).parent / "migrations"

ContextHandler = Callable[[CloudEvent[Any], Connection, handlers.Context], Awaitable[None]]


def _bind(handler: ContextHandler, ctx: handlers.Context) -> Handler:
    async def bound(event: CloudEvent[Any], conn: Connection) -> None:
        await handler(event, conn, ctx)

    return bound


def orders_consumer(ctx: handlers.Context) -> Consumer:
    """orders.events: one handler per type (the reference, and the fallback when a batch raises) and
    a batch handler applying a whole Kafka batch with a constant number of round trips."""

    async def batch(events: Sequence[CloudEvent[Any]], conn: Connection) -> None:
        await handlers.on_order_events(events, conn, ctx)

    return Consumer(
        "survey-orders",
        {event_type: _bind(handlers.on_order_event, ctx) for event_type in handlers.ORDER_RULES},
        batch_handler=batch,
    )


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
    runtime.consume(
        topics.ORDERS,
        orders_consumer(ctx),
    )
    runtime.consume(
        topics.TICKETS,
        Consumer(
            "survey-tickets",
            {
                "ticket.created": _bind(handlers.on_ticket_created, ctx),
                "ticket.status_changed": _bind(handlers.on_ticket_status_changed, ctx),
                "ticket.reopened": _bind(handlers.on_ticket_reopened, ctx),
                "ticket.merged": _bind(handlers.on_ticket_merged, ctx),
                "ticket.solved": _bind(handlers.on_ticket_solved, ctx),
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
