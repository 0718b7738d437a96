"""Wires the intake service into the shared runtime."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from runtime.binding import each, fold
from runtime.consumer import Consumer
from runtime.erasure import privacy_consumer
from runtime.service import ServiceApp, ServiceRuntime
from runtime.settings import Settings
from schemas import topics
from schemas.v1.orders import ORDER_EVENT_TYPES

from . import handlers, sweeps
from .api import build_api
from .config import IntakeConfig
from .context import Context

MIGRATIONS = Path(__file__).parent / "migrations"


def contacts_consumer(ctx: Context) -> Consumer:
    return each("intake-contacts", ctx, handlers.CONTACT_HANDLERS)


def orders_consumer(ctx: Context) -> Consumer:
    return fold("intake-orders", ctx, ORDER_EVENT_TYPES, handlers.on_order_events)


def audit_consumer(ctx: Context) -> Consumer:
    # a suspended shop's audit records are kept at once: the suspension itself is one of them
    return fold("intake-audit", ctx, handlers.AUDIT_TYPES, handlers.on_audit_events, holds=False)


def build(settings: Settings, config: IntakeConfig | None = None) -> ServiceApp:
    runtime = ServiceRuntime(settings, MIGRATIONS)
    ctx = Context(
        now=lambda: runtime.clock.now(),  # read at call time: tests swap the clock after build
        tickets_topic=runtime.topic(topics.TICKETS),
        shops=runtime.shops,
        config=config or IntakeConfig(),
        orders_topic=runtime.topic(topics.ORDERS),
        replies_topic=runtime.topic(topics.REPLIES),
        privacy_topic=runtime.topic(topics.PRIVACY),
        shops_topic=runtime.topic(topics.SHOPS),
        audit=runtime.audit,
        take_shops=runtime.shop_follower.take,
    )
    runtime.consume(topics.CONTACTS, contacts_consumer(ctx))
    runtime.consume(topics.ORDERS, orders_consumer(ctx))
    runtime.consume(topics.SURVEYS, each("intake-surveys", ctx, handlers.SURVEY_HANDLERS))
    runtime.consume(topics.SLA, fold("intake-sla", ctx, handlers.SLA_TYPES, handlers.on_sla_events))
    runtime.consume(topics.REPLY_STATUS, each("intake-reply-status", ctx, handlers.REPLY_STATUS_HANDLERS))
    runtime.every("intake-gauges", ctx.config.gauge_seconds, partial(sweeps.refresh_gauges, runtime.db, ctx))
    forget = partial(sweeps.forget_platform_deliveries, runtime.db, ctx)
    runtime.every("intake-platform-deliveries", ctx.config.platform_sweep_seconds, forget)
    housekeeping = partial(sweeps.housekeeping, runtime.db, ctx)
    runtime.every("intake-housekeeping", ctx.config.housekeeping_seconds, housekeeping)
    runtime.consume(topics.AUDIT, audit_consumer(ctx))
    purge_audit = partial(sweeps.purge_audit_log, runtime.db, ctx)
    runtime.every("intake-audit-retention", ctx.config.audit_sweep_seconds, purge_audit)
    runtime.consume(topics.PRIVACY, privacy_consumer("intake-privacy", handlers.privacy_part(ctx)))
    completions = fold(
        "intake-privacy-completions", ctx, handlers.PRIVACY_COMPLETED, handlers.on_privacy_completed
    )
    runtime.consume(topics.PRIVACY, completions)
    retention = partial(sweeps.apply_retention, runtime.db, ctx)
    runtime.every("intake-retention", ctx.config.retention_sweep_seconds, retention)
    runtime.every(
        "intake-privacy-gauge", ctx.config.gauge_seconds, partial(sweeps.measure_privacy, runtime.db, ctx)
    )
    runtime.background("intake-shops-seed", partial(sweeps.seed_shops, runtime.db, ctx))
    key_uses = partial(sweeps.store_key_uses, runtime.db, ctx)
    runtime.every("intake-key-uses", ctx.config.key_use_seconds, key_uses)
    hand_out = partial(sweeps.hand_out_queues, runtime.db, ctx)
    runtime.every("intake-assignment", ctx.config.assignment_sweep_seconds, hand_out)
    runtime.api = build_api(runtime, ctx)
    return runtime.asgi()
