"""Wires the survey service into the shared runtime."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from runtime.binding import each, fold
from runtime.consumer import Consumer
from runtime.erasure import PrivacyPart, privacy_consumer
from runtime.service import ServiceApp, ServiceRuntime
from runtime.settings import Settings
from schemas import topics
from services.survey import handlers, privacy_repository, sweeps
from services.survey.api import build_api
from services.survey.config import SurveyConfig
from services.survey.context import Context

MIGRATIONS = Path(__file__).parent / "migrations"


def orders_consumer(ctx: Context) -> Consumer:
    return fold("survey-orders", ctx, handlers.ORDER_RULES, handlers.on_order_events)


def build(settings: Settings, config: SurveyConfig | None = None) -> ServiceApp:
    config = config or SurveyConfig()
    runtime = ServiceRuntime(settings, MIGRATIONS)
    ctx = Context(
        shops=runtime.shops,
        config=config,
        topic=runtime.topic(topics.SURVEYS),
        public_base_url=settings.public_base_url,
        now=lambda: runtime.clock.now(),  # read at call time: tests swap in a ManualClock after build
    )
    runtime.consume(topics.ORDERS, orders_consumer(ctx))
    runtime.consume(topics.TICKETS, each("survey-tickets", ctx, handlers.TICKET_HANDLERS))
    part = PrivacyPart(
        "survey", runtime.topic(topics.PRIVACY), privacy_repository.erase, privacy_repository.export, ctx.now
    )
    runtime.consume(topics.PRIVACY, privacy_consumer("survey-privacy", part))
    runtime.every("survey-send-due", config.sweep_seconds, partial(sweeps.send_due, runtime.db, ctx))
    runtime.every(
        "survey-score-gauges",
        config.score_gauge_seconds,
        partial(sweeps.refresh_score_gauges, runtime.db, ctx),
    )
    runtime.api = build_api(runtime.db, ctx)
    return runtime.asgi()
