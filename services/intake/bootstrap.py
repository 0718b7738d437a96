"""Wires the intake service into the shared runtime."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from runtime.binding import each, fold
from runtime.consumer import Consumer
from runtime.service import ServiceApp, ServiceRuntime
from runtime.settings import Settings
from schemas import topics
from schemas.v1.orders import ORDER_EVENT_TYPES

from . import handlers, metrics, tickets, upstream
from . import repository as repo
from .api import build_api
from .domain.lifecycle import ACTIVE

MIGRATIONS = Path(__file__).parent / "migrations"
GAUGE_SECONDS = 2.0
FCR_PERIOD = timedelta(days=30)


def orders_consumer(intake: tickets.Intake) -> Consumer:
    return fold("intake-orders", intake, ORDER_EVENT_TYPES, upstream.on_order_events)


def build(settings: Settings) -> ServiceApp:
    runtime = ServiceRuntime(settings, MIGRATIONS)
    intake = tickets.Intake(
        now=lambda: runtime.clock.now(),  # read at call time: tests swap the clock after build
        tickets_topic=runtime.topic(topics.TICKETS),
        shops=runtime.shops,
    )

    runtime.consume(
        topics.CONTACTS, each("intake-contacts", intake, {"contact.received": handlers.on_contact_event})
    )
    runtime.consume(topics.ORDERS, orders_consumer(intake))
    runtime.consume(
        topics.SURVEYS, each("intake-surveys", intake, {"survey.detractor": upstream.on_survey_detractor})
    )
    runtime.consume(
        topics.SLA,
        each(
            "intake-sla",
            intake,
            {
                "sla.breached": upstream.on_sla_breached,
                "order.promise_breached": upstream.on_promise_breached,
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
