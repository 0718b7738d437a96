"""Consumed events become queued deliveries, one per subscribed endpoint, in the consumer's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from runtime.consumer import Unprocessable
from runtime.db import Connection
from runtime.shops import ShopRegistry
from schemas.envelope import CloudEvent
from services.notify import repository
from services.notify.domain.filters import matches
from services.notify.domain.payload import customer_locale, message_context, webhook_body
from services.notify.domain.queue import ordering_key
from services.notify.domain.templates import language, render_message
from services.notify.metrics import DELIVERIES_QUEUED

_WEBHOOK_ID_NAMESPACE = uuid.UUID("5d2f3a3e-6a43-4e59-9b0c-2f1d7c0e8a11")


def webhook_id_for(event_id: str) -> str:
    """Derived from the event id, so every endpoint and every retry of one event shows the same id."""
    return "msg_" + uuid.uuid5(_WEBHOOK_ID_NAMESPACE, event_id).hex


async def queue_event(event: CloudEvent[Any], conn: Connection, *, shops: ShopRegistry, now: datetime) -> int:
    """Queue `event` for every endpoint of its shop whose filter matches; returns how many."""
    data: dict[str, Any] = event.data.model_dump(mode="json")
    shop_id = data.get("shop_id")
    shop = shops.get(shop_id) if isinstance(shop_id, str) else None
    if shop is None:
        raise Unprocessable(f"unknown shop {shop_id!r}")
    lang = language(customer_locale(data), shop.locale)
    subscribers = await repository.subscribers(conn, shop.id, event.type, lang)
    endpoints = [
        endpoint_id for endpoint_id, patterns in subscribers.endpoints if matches(patterns, event.type)
    ]
    if not endpoints:
        return 0
    message = render_message(event.type, lang, message_context(data, shop.name), subscribers.override)
    body = webhook_body(event.type, event.time, event.id, data, message)
    queued = await repository.insert_deliveries(
        conn,
        [
            repository.NewDelivery(
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
        ],
    )
    DELIVERIES_QUEUED.labels(event.type).inc(queued)
    return queued
