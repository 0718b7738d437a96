"""Wires the notify service into the shared runtime."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runtime.consumer import Consumer, Handler
from runtime.db import Connection
from runtime.service import ServiceApp, ServiceRuntime
from runtime.settings import Settings
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


def build(settings: Settings, config: NotifyConfig | None = None) -> ServiceApp:
    config = config or NotifyConfig()
    runtime = ServiceRuntime(settings, MIGRATIONS)

    async def handle(event: CloudEvent[Any], conn: Connection) -> None:
        await queue_event(event, conn, shops=runtime.shops, now=runtime.clock.now())

    async def handle_batch(events: Sequence[CloudEvent[Any]], conn: Connection) -> None:
        # a constant number of statements per batch instead of two per event
        await queue_events(events, conn, shops=runtime.shops, now=runtime.clock.now())

    def consumer(name: str, event_types: tuple[str, ...]) -> Consumer:
        handlers: dict[str, Handler] = dict.fromkeys(event_types, handle)
        return Consumer(name, handlers, batch_handler=handle_batch)

    runtime.consume(topics.ORDERS, consumer("notify-orders", tuple(ORDER_EVENT_TYPES)))
    runtime.consume(topics.TICKETS, consumer("notify-tickets", TICKET_TYPES))
    runtime.consume(topics.SLA, consumer("notify-sla", SLA_TYPES))
    runtime.consume(topics.SURVEYS, consumer("notify-surveys", SURVEY_TYPES))

    worker = DeliveryWorker(runtime.db, config, lambda: runtime.clock.now(), runtime.topic(topics.NOTIFY))
    runtime.background("deliveries", worker.run)
    runtime.every("queue-gauges", config.gauge_seconds, worker.measure)
    runtime.every("retention", 3600.0, worker.purge_finished)
    runtime.api = build_api(runtime, config)
    return runtime.asgi()
