"""Wires the sla service into the shared runtime."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from runtime.consumer import Consumer, Handler
from runtime.db import Connection
from runtime.service import ServiceApp, ServiceRuntime
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import CloudEvent
from services.sla import handlers, order_handlers
from services.sla.api import build_api
from services.sla.handlers import SlaContext
from services.sla.timers import TimerSweep, measure_clocks

MIGRATIONS = Path(__file__).parent / "migrations"
SWEEP_SECONDS = 0.2
GAUGE_SECONDS = 15.0

ContextHandler = Callable[[CloudEvent[Any], Connection, SlaContext], Awaitable[None]]

TICKET_HANDLERS: dict[str, ContextHandler] = {
    "ticket.created": handlers.on_ticket_created,
    "ticket.message_added": handlers.on_message_added,
    "ticket.first_response": handlers.on_first_response,
    "ticket.status_changed": handlers.on_status_changed,
    "ticket.solved": handlers.on_solved,
    "ticket.reopened": handlers.on_reopened,
    "ticket.merged": handlers.on_merged,
    "ticket.closed": handlers.on_closed,
}
ORDER_HANDLERS: dict[str, ContextHandler] = {
    "order.paid": order_handlers.on_order_paid,
    "order.shipped": order_handlers.on_order_shipped,
    "order.delayed": order_handlers.on_order_delayed,
    "order.delivered": order_handlers.on_order_delivered,
    "order.cancelled": order_handlers.on_order_cancelled,
    "repair.received": order_handlers.on_repair_received,
    "repair.completed": order_handlers.on_repair_completed,
}


def _bind(table: dict[str, ContextHandler], ctx: SlaContext) -> dict[str, Handler]:
    def bound(handler: ContextHandler) -> Handler:
        async def apply(event: CloudEvent[Any], conn: Connection) -> None:
            await handler(event, conn, ctx)

        return apply

    return {event_type: bound(handler) for event_type, handler in table.items()}


def build(settings: Settings) -> ServiceApp:
    runtime = ServiceRuntime(settings, MIGRATIONS)
    # `now` reads runtime.clock at call time: tests swap in a ManualClock after build().
    ctx = SlaContext(runtime.shops, lambda: runtime.clock.now(), runtime.topic(topics.SLA))
    runtime.consume(topics.TICKETS, Consumer("sla-tickets", _bind(TICKET_HANDLERS, ctx)))
    orders_batch = partial(order_handlers.on_order_events, ctx=ctx)
    runtime.consume(
        topics.ORDERS, Consumer("sla-orders", _bind(ORDER_HANDLERS, ctx), batch_handler=orders_batch)
    )
    sweep = TimerSweep(runtime.db, ctx)
    runtime.every("sla-timers", SWEEP_SECONDS, sweep.run)
    runtime.every("sla-gauges", GAUGE_SECONDS, partial(measure_clocks, runtime.db, ctx))
    runtime.api = build_api(runtime)
    return runtime.asgi()
