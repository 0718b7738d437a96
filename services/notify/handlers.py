"""Consumed events become queued deliveries, one per subscribed endpoint, in the consumer's transaction."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from functools import partial
from typing import Any

from runtime.consumer import Unprocessable
from runtime.db import Connection
from runtime.metrics import on_commit
from runtime.shops import Shop
from schemas.envelope import CloudEvent
from services.notify.context import Context
from services.notify.domain.alerts import alert_fields
from services.notify.domain.filters import matches
from services.notify.domain.payload import customer_locale, message_context, webhook_body
from services.notify.domain.queue import ordering_key
from services.notify.domain.templates import language, render_message
from services.notify.metrics import DELIVERIES_QUEUED
from services.notify.repository.deliveries import NewDelivery, insert_deliveries
from services.notify.repository.endpoints import subscriptions

_WEBHOOK_ID_NAMESPACE = uuid.UUID("5d2f3a3e-6a43-4e59-9b0c-2f1d7c0e8a11")


def webhook_id_for(event_id: str) -> str:
    """Derived from the event id, so every endpoint and every retry of one event shows the same id."""
    return "msg_" + uuid.uuid5(_WEBHOOK_ID_NAMESPACE, event_id).hex


async def queue_events(events: Sequence[CloudEvent[Any]], conn: Connection, ctx: Context) -> None:
    """Queue each event for every endpoint of its shop whose filter matches, in event order, with one
    query for the run's endpoints and templates and one insert.
    An event of an unknown shop raises Unprocessable before anything is written (the runtime then
    redoes the run event by event, so only that one is dead-lettered)."""
    shops, now = ctx.shops, ctx.now()
    prepared: list[tuple[CloudEvent[Any], dict[str, Any], Shop, str]] = []
    for event in events:
        data: dict[str, Any] = event.data.model_dump(mode="json")
        shop_id = data.get("shop_id")
        shop = shops.get(shop_id) if isinstance(shop_id, str) else None
        if shop is None:
            raise Unprocessable(f"unknown shop {shop_id!r}")
        prepared.append((event, data, shop, language(customer_locale(data), shop.locale)))
    if not prepared:
        return
    found = await subscriptions(
        conn, sorted({(shop.id, event.type, lang) for event, _, shop, lang in prepared})
    )
    deliveries: list[NewDelivery] = []
    for event, data, shop, lang in prepared:
        subscribers = found.for_event(shop.id, event.type, lang)
        endpoints = [eid for eid, patterns in subscribers.endpoints if matches(patterns, event.type)]
        if not endpoints:
            continue
        context = message_context(data, shop.name) | alert_fields(event.type, data, shop.timezone)
        message = render_message(event.type, lang, context, subscribers.override)
        body = webhook_body(event.type, event.time, event.id, data, message)
        deliveries += [
            NewDelivery(
                id="dlv_" + uuid.uuid4().hex,
                shop_id=shop.id,
                endpoint_id=endpoint_id,
                webhook_id=webhook_id_for(event.id),
                event_id=event.id,
                event_type=event.type,
                event_time=event.time,
                order_key=ordering_key(data, event.id),
                body=body,
                created_at=now,
            )
            for endpoint_id in endpoints
        ]
    if not deliveries:
        return
    queued = await insert_deliveries(conn, deliveries)
    # Counted once the consumer's transaction commits: a batch redone event by event, or sent back
    # by a failed commit, queues its deliveries again, and only the committed ones are in the queue.
    for event_type, count in Counter(queued).items():
        on_commit(partial(DELIVERIES_QUEUED.labels(event_type).inc, count))
