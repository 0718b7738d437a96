"""Wires the sla service into the shared runtime."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from runtime.binding import EventHandler, each, fold
from runtime.service import ServiceApp, ServiceRuntime
from runtime.settings import Settings
from schemas import topics
from services.sla import handlers, order_handlers
from services.sla.api import build_api
from services.sla.domain.promise_steps import STEP_RULES
from services.sla.handlers import SlaContext
from services.sla.timers import TimerSweep, measure_clocks

MIGRATIONS = Path(__file__).parent / "migrations"
SWEEP_SECONDS = 0.2
GAUGE_SECONDS = 15.0

TICKET_HANDLERS: dict[str, EventHandler[SlaContext]] = {
    "ticket.created": handlers.on_ticket_created,
    "ticket.message_added": handlers.on_message_added,
    "ticket.first_response": handlers.on_first_response,
    "ticket.status_changed": handlers.on_status_changed,
    "ticket.solved": handlers.on_solved,
    "ticket.reopened": handlers.on_reopened,
    "ticket.merged": handlers.on_merged,
    "ticket.closed": handlers.on_closed,
}
ORDER_TYPES = frozenset(STEP_RULES)


def build(settings: Settings) -> ServiceApp:
    runtime = ServiceRuntime(settings, MIGRATIONS)
    # `now` reads runtime.clock at call time: tests swap in a ManualClock after build().
    ctx = SlaContext(runtime.shops, lambda: runtime.clock.now(), runtime.topic(topics.SLA))
    runtime.consume(topics.TICKETS, each("sla-tickets", ctx, TICKET_HANDLERS))
    runtime.consume(topics.ORDERS, fold("sla-orders", ctx, ORDER_TYPES, order_handlers.on_order_events))
    sweep = TimerSweep(runtime.db, ctx)
    runtime.every("sla-timers", SWEEP_SECONDS, sweep.run)
    runtime.every("sla-gauges", GAUGE_SECONDS, partial(measure_clocks, runtime.db, ctx))
    runtime.api = build_api(runtime)
    return runtime.asgi()
