"""Wires the notify service into the shared runtime."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from runtime.consumer import Consumer, Handler
from runtime.db import Connection
from runtime.service import ServiceApp, ServiceRuntime
from runtime.settings import Settings
from runtime.shops import ShopRegistry
from schemas import topics
from schemas.envelope import CloudEvent
from schemas.v1.orders import ORDER_EVENT_TYPES
from services.notify.api import build_api
from services.notify.config import NotifyConfig
from services.notify.delivery import DeliveryWorker
from services.notify.handlers import queue_event, queue_events

MIGRATIONS = Path(__file__).parent / "migrations"

TICKET_TYPES = ("ticket.created", "ticket.solved")
SLA_TYPES = ("order.promise_breached",)
SURVEY_TYPES = ("survey.invited",)


def consumer(
    name: str, event_types: tuple[str, ...], shops: ShopRegistry, now: Callable[[], datetime]
) -> Consumer:
    """Events queued one at a time (the reference, and the runtime's fallback when a batch raises),
    or a whole batch at once in a constant number of statements."""

    async def handle(event: CloudEvent[Any], conn: Connection) -> None:
        await queue_event(event, conn, shops=shops, now=now())

    async def handle_batch(events: Sequence[CloudEvent[Any]], conn: Connection) -> None:
        await queue_events(events, conn, shops=shops, now=now())

    handlers: dict[str, Handler] = dict.fromkeys(event_types, handle)
    return Consumer(name, handlers, batch_handler=handle_batch)


def build(settings: Settings, config: NotifyConfig | None = None) -> ServiceApp:
    config = config or NotifyConfig()
    runtime = ServiceRuntime(settings, MIGRATIONS)

    def now() -> datetime:
        return runtime.clock.now()  # read at call time: tests swap the clock after build

    for topic, name, event_types in (
        (topics.ORDERS, "notify-orders", tuple(ORDER_EVENT_TYPES)),
        (topics.TICKETS, "notify-tickets", TICKET_TYPES),
        (topics.SLA, "notify-sla", SLA_TYPES),
        (topics.SURVEYS, "notify-surveys", SURVEY_TYPES),
    ):
        runtime.consume(topic, consumer(name, event_types, runtime.shops, now))

    worker = DeliveryWorker(runtime.db, config, now, runtime.topic(topics.NOTIFY))
    runtime.background("deliveries", worker.run)
    runtime.every("queue-gauges", config.gauge_seconds, worker.measure)
    runtime.every("retention", 3600.0, worker.purge_finished)
    runtime.api = build_api(runtime, config)
    return runtime.asgi()
