"""Wires the notify service into the shared runtime."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from runtime.binding import fold
from runtime.consumer import Consumer
from runtime.erasure import PrivacyPart, privacy_consumer
from runtime.service import ServiceApp, ServiceRuntime
from runtime.settings import Settings
from schemas import topics
from schemas.v1.orders import ORDER_EVENT_TYPES
from services.notify import sweeps
from services.notify.api import build_api
from services.notify.config import NotifyConfig
from services.notify.context import Context
from services.notify.delivery import DeliveryWorker
from services.notify.email_worker import EmailWorker
from services.notify.handlers import queue_emails, queue_events
from services.notify.repository import privacy

MIGRATIONS = Path(__file__).parent / "migrations"

TICKET_TYPES = ("ticket.created", "ticket.solved", "ticket.replied", "ticket.reply_failed")
SLA_TYPES = ("sla.warning", "sla.breached", "sla.escalated", "order.promise_breached")
SURVEY_TYPES = ("survey.invited",)
SUBSCRIPTIONS = (
    (topics.ORDERS, "notify-orders", tuple(ORDER_EVENT_TYPES)),
    (topics.TICKETS, "notify-tickets", TICKET_TYPES),
    (topics.SLA, "notify-sla", SLA_TYPES),
    (topics.SURVEYS, "notify-surveys", SURVEY_TYPES),
)
"""What notify turns into webhooks: (topic, consumer name, event types)."""


def consumer(name: str, event_types: tuple[str, ...], ctx: Context) -> Consumer:
    return fold(name, ctx, event_types, queue_events)


def email_consumer(ctx: Context) -> Consumer:
    return fold("notify-email", ctx, ("ticket.replied",), queue_emails)


def build(settings: Settings, config: NotifyConfig | None = None) -> ServiceApp:
    config = config or NotifyConfig()
    runtime = ServiceRuntime(settings, MIGRATIONS)
    # `now` reads runtime.clock at call time: tests swap in a ManualClock after build().
    ctx = Context(
        runtime.shops,
        lambda: runtime.clock.now(),
        runtime.topic(topics.NOTIFY),
        config,
        reply_status_topic=runtime.topic(topics.REPLY_STATUS),
    )
    for topic, name, event_types in SUBSCRIPTIONS:
        runtime.consume(topic, consumer(name, event_types, ctx))
    runtime.consume(topics.TICKETS, email_consumer(ctx))
    runtime.background("deliveries", DeliveryWorker(runtime.db, ctx).run)
    runtime.background("emails", EmailWorker(runtime.db, ctx).run)
    runtime.every("queue-gauges", config.gauge_seconds, partial(sweeps.measure_queue, runtime.db, ctx))
    runtime.every("retention", config.purge_seconds, partial(sweeps.purge_finished, runtime.db, ctx))
    runtime.every("retention-bodies", config.purge_seconds, partial(sweeps.purge_bodies, runtime.db, ctx))
    part = PrivacyPart("notify", runtime.topic(topics.PRIVACY), privacy.erase, privacy.export, ctx.now)
    runtime.consume(topics.PRIVACY, privacy_consumer("notify-privacy", part))
    runtime.api = build_api(runtime.db, ctx)
    return runtime.asgi()
