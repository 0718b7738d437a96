"""Consumed events become queued deliveries, one per subscribed endpoint, in the consumer's transaction;
replies to customers who wrote by e-mail also become queued e-mails for shops with an SMTP relay."""

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
from services.notify.domain.mail import OutgoingEmail, reply_subject
from services.notify.domain.payload import customer_locale, message_context, webhook_body
from services.notify.domain.queue import ordering_key
from services.notify.domain.templates import language, render_message
from services.notify.metrics import DELIVERIES_QUEUED, EMAILS_QUEUED
from services.notify.repository.deliveries import NewDelivery, insert_deliveries
from services.notify.repository.email import NewSend, queue_sends, shops_with_relay
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


async def queue_emails(events: Sequence[CloudEvent[Any]], conn: Connection, ctx: Context) -> None:
    """Queue an e-mail for each reply (ticket.replied) to a customer who wrote by e-mail and has an
    address, when the shop has an SMTP relay; other shops send replies with their own tools (the
    webhook, support.replies). An event of an unknown shop raises Unprocessable before any write."""
    replies: list[CloudEvent[Any]] = []
    for event in events:
        if event.data.shop_id not in ctx.shops:
            raise Unprocessable(f"unknown shop {event.data.shop_id!r}")
        if (
            event.data.channel.value == "email"
            and event.data.contact.email
            and event.data.threading.message_id
        ):
            replies.append(event)
    if not replies:
        return
    relayed = await shops_with_relay(conn, sorted({e.data.shop_id for e in replies}))
    now = ctx.now()
    sends = [
        NewSend(
            id="eml_" + uuid.uuid4().hex,
            shop_id=e.data.shop_id,
            event_id=e.id,
            ticket_id=e.data.ticket_id,
            message_id=e.data.message_id,
            mail=OutgoingEmail(
                to_address=e.data.contact.email,
                to_name=e.data.contact.name,
                subject=reply_subject(e.data.subject),
                text=e.data.text,
                message_id=e.data.threading.message_id,
                in_reply_to=e.data.threading.in_reply_to,
                references=tuple(e.data.threading.references),
                automatic=e.data.automatic,
                written_at=e.data.at,
            ),
            created_at=now,
        )
        for e in replies
        if e.data.shop_id in relayed
    ]
    queued = await queue_sends(conn, sends)
    if queued:
        on_commit(partial(EMAILS_QUEUED.inc, queued))
