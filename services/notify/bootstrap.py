"""Wires the notify service into the shared runtime."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from runtime.binding import fold
from runtime.consumer import Consumer
from runtime.service import ServiceApp, ServiceRuntime
from runtime.settings import Settings
from schemas import topics
from schemas.v1.orders import ORDER_EVENT_TYPES
from services.notify.api import build_api
from services.notify.config import NotifyConfig
from services.notify.delivery import DeliveryWorker
from services.notify.handlers import Context, queue_events

MIGRATIONS = Path(__file__).parent / "migrations"

TICKET_TYPES = ("ticket.created", "ticket.solved")
SLA_TYPES = ("order.promise_breached",)
SURVEY_TYPES = ("survey.invited",)


def consumer(name: str, event_types: tuple[str, ...], ctx: Context) -> Consumer:
    return fold(name, ctx, event_types, queue_events)


def build(settings: Settings, config: NotifyConfig | None = None) -> ServiceApp:
    config = config or NotifyConfig()
    runtime = ServiceRuntime(settings, MIGRATIONS)

    def now() -> datetime:
        return runtime.clock.now()  # read at call time: tests swap the clock after build

    ctx = Context(runtime.shops, now)
    for topic, name, event_types in (
        (topics.ORDERS, "notify-orders", tuple(ORDER_EVENT_TYPES)),
        (topics.TICKETS, "notify-tickets", TICKET_TYPES),
        (topics.SLA, "notify-sla", SLA_TYPES),
        (topics.SURVEYS, "notify-surveys", SURVEY_TYPES),
    ):
        runtime.consume(topic, consumer(name, event_types, ctx))

    worker = DeliveryWorker(runtime.db, config, now, runtime.topic(topics.NOTIFY))
    runtime.background("deliveries", worker.run)
    runtime.every("queue-gauges", config.gauge_seconds, worker.measure)
    runtime.every("retention", 3600.0, worker.purge_finished)
    runtime.api = build_api(runtime, config)
    return runtime.asgi()
