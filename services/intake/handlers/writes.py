"""Saving a ticket's changes and announcing them: the last step every intake use case shares."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import partial

from runtime.consumer import Unprocessable
from runtime.db import Connection
from runtime.metrics import on_commit, shop_label
from runtime.outbox import enqueue_many
from schemas.registry import make_event
from schemas.v1.tickets import (
    TICKET_EVENT_TYPES,
    TicketAssigned,
    TicketCreated,
    TicketEventData,
    TicketFirstResponse,
    TicketMerged,
    TicketReopened,
    TicketSolved,
)

from .. import metrics
from ..context import Context
from ..domain.customers import CustomerStanding
from ..domain.orders import OrderContext, OrderStatus
from ..domain.ticket import Change
from ..repository import tickets

SOURCE = "careloop/intake"
EVENT_TYPE = {model: name for name, model in TICKET_EVENT_TYPES.items()}


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


async def apply(
    conn: Connection, ctx: Context, *changes: Change, thread: str | None = None, reopened_by: str = "agent"
) -> bool:
    """Save each change (the last one continuing `thread`), then announce all their events in one
    outbox statement. False, and nothing announced, if a new ticket's source already opened one."""
    for n, change in enumerate(changes, start=1):
        if not await tickets.save(conn, change, thread if n == len(changes) else None):
            return False
    events = [with_customer(e, change.ticket.customer.standing) for change in changes for e in change.events]
    now = ctx.now()
    await enqueue_many(
        conn,
        ctx.tickets_topic,
        [(make_event(EVENT_TYPE[type(e)], SOURCE, e, subject=e.ticket_id, time=now), None) for e in events],
    )
    for event in events:
        _count(event, reopened_by)
    return True


def _count(event: TicketEventData, reopened_by: str) -> None:
    channel = event.channel.value
    if isinstance(event, TicketCreated):
        on_commit(
            metrics.TICKETS_CREATED.labels(
                channel, event.category.value, event.priority.value, event.source
            ).inc
        )
        if event.is_repeat:
            on_commit(metrics.REPEAT_CONTACTS.labels(channel).inc)
    elif isinstance(event, TicketFirstResponse):
        observe = metrics.FIRST_RESPONSE_SECONDS.labels(shop_label(event.shop_id), channel).observe
        on_commit(partial(observe, event.first_response_seconds))
    elif isinstance(event, TicketSolved):
        observe = metrics.RESOLUTION_SECONDS.labels(channel, event.category.value).observe
        on_commit(partial(observe, event.resolution_seconds))
        on_commit(metrics.SOLVED.labels(str(event.first_contact_resolution).lower()).inc)
    elif isinstance(event, TicketReopened):
        on_commit(metrics.REOPENED.labels(reopened_by).inc)
    elif isinstance(event, TicketMerged):
        on_commit(metrics.MERGED.inc)
    elif isinstance(event, TicketAssigned):
        on_commit(metrics.ASSIGNMENTS.labels(event.reason).inc)


def with_customer(event: TicketEventData, standing: CustomerStanding | None) -> TicketEventData:
    """The event with what the ticket knows of its customer: CLV per currency, detractor or not."""
    if standing is None:
        return event
    return event.model_copy(
        update={"customer_value": standing.clv(), "customer_detractor": standing.detractor}
    )


def known_shop(shop_id: str, ctx: Context) -> None:
    if shop_id not in ctx.shops:
        raise Unprocessable(
            f"unknown shop {shop_id!r}", counted=metrics.REJECTED.labels("kafka", "unknown_shop").inc
        )


def order_status(order: OrderContext | None, now: datetime) -> OrderStatus | None:
    return order.effective_status(now.date()) if order is not None else None
