"""Wires the intake service into the shared runtime."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from runtime.consumer import BatchHandler, Consumer, Handler
from runtime.db import Connection
from runtime.service import ServiceApp, ServiceRuntime
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import CloudEvent
from schemas.v1.orders import ORDER_EVENT_TYPES

from . import handlers, metrics, tickets, upstream
from . import repository as repo
from .api import build_api
from .domain.lifecycle import ACTIVE

MIGRATIONS = Path(__file__).parent / "migrations"
GAUGE_SECONDS = 2.0
FCR_PERIOD = timedelta(days=30)


IntakeHandler = Callable[[CloudEvent[Any], Connection, tickets.Intake], Awaitable[None]]
IntakeBatchHandler = Callable[[Sequence[CloudEvent[Any]], Connection, tickets.Intake], Awaitable[None]]


def _bound(intake: tickets.Intake, handler: IntakeHandler) -> Handler:
    async def handle(event: CloudEvent[Any], conn: Connection) -> None:
        with metrics.counted_on_success():
            await handler(event, conn, intake)

    return handle


def _bound_batch(intake: tickets.Intake, handler: IntakeBatchHandler) -> BatchHandler:
    async def handle(events: Sequence[CloudEvent[Any]], conn: Connection) -> None:
        with metrics.counted_on_success():
            await handler(events, conn, intake)

    return handle


def orders_consumer(intake: tickets.Intake) -> Consumer:
    """orders.events: one event at a time is the reference (and the fallback); a whole batch goes
    through `on_order_events` in a constant number of statements."""
    return Consumer(
        "intake-orders",
        {t: _bound(intake, upstream.on_order_event) for t in ORDER_EVENT_TYPES},
        batch_handler=_bound_batch(intake, upstream.on_order_events),
    )


def build(settings: Settings) -> ServiceApp:
    runtime = ServiceRuntime(settings, MIGRATIONS)
    intake = tickets.Intake(
        now=lambda: runtime.clock.now(),  # read at call time: tests swap the clock after build
        tickets_topic=runtime.topic(topics.TICKETS),
        shops=runtime.shops,
    )

    def bound(handler: IntakeHandler) -> Handler:
        return _bound(intake, handler)

    runtime.consume(
        topics.CONTACTS, Consumer("intake-contacts", {"contact.received": bound(handlers.on_contact_event)})
    )
    runtime.consume(topics.ORDERS, orders_consumer(intake))
    runtime.consume(
        topics.SURVEYS, Consumer("intake-surveys", {"survey.detractor": bound(upstream.on_survey_detractor)})
    )
    runtime.consume(
        topics.SLA,
        Consumer(
            "intake-sla",
            {
                "sla.breached": bound(upstream.on_sla_breached),
                "order.promise_breached": bound(upstream.on_promise_breached),
            },
        ),
    )

    async def refresh_gauges() -> None:
        async with runtime.db.pool.acquire() as conn:
            counts = await repo.open_ticket_counts(conn)
            ratio = await repo.fcr_ratio(conn, runtime.clock.now() - FCR_PERIOD)
        # every shop and status is set, so a status that emptied out drops to 0 instead of lingering
        found = {(r["shop_id"], r["status"]): r["n"] for r in counts}
        for shop in runtime.shops:
            for status in ACTIVE:
                metrics.OPEN_TICKETS.labels(shop.id, status.value).set(found.get((shop.id, status.value), 0))
        if ratio is not None:
            metrics.FCR_RATIO.set(ratio)

    runtime.every("intake-gauges", GAUGE_SECONDS, refresh_gauges)
    runtime.api = build_api(runtime, intake)
    return runtime.asgi()
