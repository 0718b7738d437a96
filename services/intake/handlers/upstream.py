"""What intake does with other services' events: order context, follow-up tickets for unhappy
survey answers and broken promises, SLA breach marks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from runtime.consumer import Unprocessable
from runtime.db import Connection
from schemas.envelope import CloudEvent
from schemas.v1.common import Customer
from schemas.v1.contacts import Channel
from schemas.v1.orders import OrderCreated, OrderDelayed, OrderEventData, OrderShipped
from schemas.v1.sla import OrderPromiseBreached, PromiseKind, SlaBreached
from schemas.v1.surveys import SurveyDetractor
from schemas.v1.tickets import Author, Category, TicketSource

from .. import metrics
from ..context import Context
from ..domain.customers import known_customer_key, value_moved
from ..domain.orders import (
    STATUS_OF_EVENT,
    Contents,
    OrderContext,
    OrderItem,
    OrderStep,
    Shipment,
    apply_step,
)
from ..domain.ticket import Message, Opening, Ticket, TicketCustomer
from ..repository import conversations, customers, orders, tickets
from .routing import route_new
from .writes import apply, known_shop, new_id, order_status


def order_step(event: CloudEvent[Any]) -> OrderStep:
    """What an order event tells intake (domain/orders.py)."""
    data: OrderEventData = event.data
    step = OrderStep(
        STATUS_OF_EVENT[event.type],
        event.time,
        data.customer.id,
        data.customer.email,
        data.customer.locale,
    )
    if isinstance(data, OrderCreated):
        lines = tuple(OrderItem(i.sku, i.name, i.quantity, i.unit_price) for i in data.lines)
        return replace(step, contents=Contents(data.total, data.currency, lines))
    if isinstance(data, OrderShipped):
        url = str(data.tracking_url) if data.tracking_url is not None else None
        shipment = Shipment(data.carrier, data.tracking_number, url)
        return replace(step, promised_delivery_date=data.promised_delivery_date, shipment=shipment)
    if isinstance(data, OrderDelayed):
        return replace(step, promised_delivery_date=data.new_promised_delivery_date, delay_reason=data.reason)
    return step


async def on_order_events(events: Sequence[CloudEvent[Any]], conn: Connection, ctx: Context) -> None:
    """What intake keeps of orders, for a run of order events (record order) in at most four
    statements: lock and load every order of the run, fold the steps in memory, write back only the
    orders that changed, fill in the customer id of their tickets, and refresh the standing on the
    tickets of the customers whose counted orders changed (domain/customers.py). An event of an unknown shop
    makes it raise before any write (the runtime then redoes the run event by event)."""
    for event in events:
        known_shop(event.data.shop_id, ctx)
    keys = [(event.data.shop_id, event.data.order_id) for event in events]
    before = await orders.order_contexts(conn, list(dict.fromkeys(keys)))
    after: dict[orders.OrderKey, OrderContext] = dict(before)
    # One event after another only ever fills tickets still without a customer id, so for each order
    # the first event's customer id is the one that sticks.
    customer_of: dict[orders.OrderKey, str] = {}
    for key, event in zip(keys, events, strict=True):
        after[key] = apply_step(after.get(key), order_step(event))
        customer_of.setdefault(key, event.data.customer.id)
    await orders.save_order_contexts(conn, [(k, o) for k, o in after.items() if before.get(k) != o])
    await tickets.fill_in_customer_ids(conn, list(customer_of.items()))
    await customers.refresh_standings(conn, _value_moved(before, after))


def _value_moved(
    before: dict[orders.OrderKey, OrderContext], after: dict[orders.OrderKey, OrderContext]
) -> list[customers.Whose]:
    """The customers (as they were and as they are) of the orders whose counted value changed."""
    whose = []
    for (shop_id, order_id), order in after.items():
        held = before.get((shop_id, order_id))
        if value_moved(held, order):
            whose += [customers.Whose(shop_id, o.customer_id, o.customer_email) for o in (held, order) if o]
    return whose


async def _open_follow_up(
    conn: Connection,
    ctx: Context,
    *,
    shop_id: str,
    customer: Customer,
    order_id: str | None,
    source: TicketSource,
    source_ref: str,
    subject: str,
    body: str,
    category: Category | None,
) -> None:
    """A ticket intake opens on the customer's behalf; once per source_ref however often it is told."""
    now = ctx.now()
    key = known_customer_key(customer.id, customer.email, customer.phone)
    known = await conversations.facts(
        conn, shop_id, order_id=order_id, email=customer.email, customer_key=key, customer_id=customer.id
    )
    opening = Opening(
        ticket_id=new_id("tkt"),
        shop_id=shop_id,
        channel=Channel.EMAIL,  # the shop answers these by e-mail
        source=source,
        source_ref=source_ref,
        subject=subject,
        customer=TicketCustomer(
            key=key,
            id=customer.id,
            email=customer.email,
            phone=customer.phone,
            name=customer.name,
            locale=customer.locale,
            standing=known.standing,
        ),
        order_id=order_id,
        category=category,
    )
    first = Message(id=new_id("msg"), author=Author.SYSTEM, body=body, at=now)
    opened = Ticket.open(opening, first, known.rules, order_status(known.order, now))
    await apply(conn, ctx, await route_new(conn, ctx, opened, known.teams))


async def on_survey_detractor(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: SurveyDetractor = event.data
    known_shop(data.shop_id, ctx)
    comment = data.comment or "(no comment)"
    await _open_follow_up(
        conn,
        ctx,
        shop_id=data.shop_id,
        customer=data.customer,
        order_id=data.order_id,
        source=TicketSource.SURVEY_DETRACTOR,
        source_ref=data.survey_id,
        subject=f"Unhappy {data.kind.value.upper()} answer: score {data.score}",
        body=(
            f"Survey {data.survey_id} ({data.kind.value}) answered with score {data.score}. "
            f"Comment: {comment}"
        ),
        category=None,
    )


async def on_promise_breached(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: OrderPromiseBreached = event.data
    known_shop(data.shop_id, ctx)
    repair = data.promise is PromiseKind.REPAIR_TURNAROUND
    what = {
        PromiseKind.SHIP_BY: "ship the order by",
        PromiseKind.DELIVERY_DATE: "deliver the order by",
        PromiseKind.REPAIR_TURNAROUND: f"finish repair {data.repair_id or ''} by",
    }[data.promise]
    await _open_follow_up(
        conn,
        ctx,
        shop_id=data.shop_id,
        customer=data.customer,
        order_id=data.order_id,
        source=TicketSource.SLA_PROMISE,
        source_ref=f"{data.order_id}:{data.promise.value}:{data.repair_id or ''}",
        subject=f"Order {data.order_id}: promise broken ({data.promise.value})",
        body=(
            f"The shop promised to {what} {data.promised_at.isoformat()}; "
            f"still not done at {data.at.isoformat()}."
        ),
        category=Category.COMPLAINT_REPAIR if repair else Category.DELIVERY_DELAY,
    )


async def on_sla_breached(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: SlaBreached = event.data
    known_shop(data.shop_id, ctx)
    ticket = await tickets.ticket_for_update(conn, data.shop_id, data.ticket_id)
    if ticket is None:
        raise Unprocessable(
            f"unknown ticket {data.ticket_id!r} of shop {data.shop_id!r}",
            counted=metrics.REJECTED.labels("kafka", "unknown_ticket").inc,
        )
    await apply(conn, ctx, ticket.mark_breached(data.metric.value))
