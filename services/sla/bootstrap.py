"""Wires the sla service into the shared runtime."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from runtime.binding import each, fold
from runtime.erasure import PrivacyPart, privacy_consumer
from runtime.service import ServiceApp, ServiceRuntime
from runtime.settings import Settings
from schemas import topics
from services.sla import handlers, sweeps
from services.sla.api import build_api
from services.sla.config import SlaConfig
from services.sla.context import Context
from services.sla.repository import privacy

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: Settings, config: SlaConfig | None = None) -> ServiceApp:
    config = config or SlaConfig()
    runtime = ServiceRuntime(settings, MIGRATIONS)
    # `now` reads runtime.clock at call time: tests swap in a ManualClock after build().
    ctx = Context(runtime.shops, lambda: runtime.clock.now(), runtime.topic(topics.SLA), config)
    runtime.consume(topics.TICKETS, each("sla-tickets", ctx, handlers.TICKET_HANDLERS))
    runtime.consume(topics.ORDERS, fold("sla-orders", ctx, handlers.ORDER_TYPES, handlers.on_order_events))
    runtime.every("sla-timers", config.sweep_seconds, sweeps.TimerSweep(runtime.db, ctx).run)
    runtime.every("sla-gauges", config.gauge_seconds, partial(sweeps.measure_clocks, runtime.db, ctx))
    part = PrivacyPart("sla", runtime.topic(topics.PRIVACY), privacy.erase, privacy.export, ctx.now)
    runtime.consume(topics.PRIVACY, privacy_consumer("sla-privacy", part))
    runtime.api = build_api(runtime.db, ctx)
    return runtime.asgi()
