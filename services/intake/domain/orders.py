"""An order's latest state as intake knows it from `orders.events`.

Order events arrive in any order (partitions, retries, platforms re-sending), so the state is a fold
that does not care: every fact is kept with the time of the step that told it, and a step replaces a
fact only if it is newer (equal times are broken by the value itself). The status with the customer
comes from the newest step of all; the e-mail, the delivery promise, the shipment, the last delay and
the order's contents each from the newest step that carries one. Any arrival order ends in the same
state (tests/intake/test_domain_orders.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class OrderStatus(StrEnum):
    CREATED = "created"
    PAID = "paid"
    SHIPPED = "shipped"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    DELAYED = "delayed"
    CANCELLED = "cancelled"
    RETURN_REQUESTED = "return_requested"
    RETURN_RECEIVED = "return_received"
    REFUNDED = "refunded"
    REPAIR_RECEIVED = "repair_received"
    REPAIR_COMPLETED = "repair_completed"


STATUS_OF_EVENT: dict[str, OrderStatus] = {
    "order.created": OrderStatus.CREATED,
    "order.paid": OrderStatus.PAID,
    "order.shipped": OrderStatus.SHIPPED,
    "order.out_for_delivery": OrderStatus.OUT_FOR_DELIVERY,
    "order.delivered": OrderStatus.DELIVERED,
    "order.delayed": OrderStatus.DELAYED,
    "order.cancelled": OrderStatus.CANCELLED,
    "return.requested": OrderStatus.RETURN_REQUESTED,
    "return.received": OrderStatus.RETURN_RECEIVED,
    "refund.issued": OrderStatus.REFUNDED,
    "repair.received": OrderStatus.REPAIR_RECEIVED,
    "repair.completed": OrderStatus.REPAIR_COMPLETED,
}

_IN_TRANSIT = frozenset({OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.OUT_FOR_DELIVERY})
_RANK = {status: n for n, status in enumerate(OrderStatus)}

OPEN_STATUSES = frozenset({*_IN_TRANSIT, OrderStatus.CREATED, OrderStatus.DELAYED})
"""An order still on its way to the customer: what "where is my order?" can be about."""


@dataclass(frozen=True, order=True)
class OrderItem:
    sku: str
    name: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class Shipment:
    carrier: str
    tracking_number: str
    tracking_url: str | None = None


@dataclass(frozen=True, order=True)
class Contents:
    """What was ordered (order.created)."""

    total: Decimal
    currency: str
    lines: tuple[OrderItem, ...] = ()


@dataclass(frozen=True)
class OrderStep:
    """What one order event tells: its status and customer, and the facts it carries."""

    status: OrderStatus
    at: datetime
    customer_id: str
    customer_email: str | None
    customer_locale: str
    promised_delivery_date: date | None = None
    shipment: Shipment | None = None
    delay_reason: str | None = None
    """The reason an order.delayed gives (a step of status delayed is a delay, reason or not)."""
    contents: Contents | None = None


@dataclass(frozen=True)
class OrderContext:
    status: OrderStatus
    status_at: datetime
    customer_id: str
    customer_email: str | None
    customer_locale: str
    promised_delivery_date: date | None = None
    customer_email_at: datetime | None = None
    """When the e-mail was told (None: with the status)."""
    promise_at: datetime | None = None
    """When the promised date was told (None: with the status)."""
    shipment: Shipment | None = None
    shipped_at: datetime | None = None
    delay_reason: str | None = None
    delayed_at: datetime | None = None
    """When the order was last delayed (order.delayed): the shop may have told the customer then."""
    contents: Contents | None = None
    contents_at: datetime | None = None
    placed_at: datetime | None = None
    """When the order was placed: the earliest step told of it (None: with the status)."""

    def effective_status(self, today: date) -> OrderStatus:
        """An order in transit past its promised delivery date is late even if nobody said so."""
        if (
            self.status in _IN_TRANSIT
            and self.promised_delivery_date is not None
            and today > self.promised_delivery_date
        ):
            return OrderStatus.DELAYED
        return self.status


def _newer(at: datetime, key: object, held_at: datetime | None, held_key: object) -> bool:
    """Whether a fact told at `at` replaces one held since `held_at`; equal times compare the values,
    so which of two simultaneous steps arrived first never matters."""
    if held_at is None or at != held_at:
        return held_at is None or at > held_at
    return bool(key > held_key)  # type: ignore[operator]


def _status(current: OrderContext | None, step: OrderStep) -> OrderContext:
    key = (_RANK[step.status], step.customer_id, step.customer_locale)
    if current is not None:
        held = (_RANK[current.status], current.customer_id, current.customer_locale)
        if not _newer(step.at, key, current.status_at, held):
            return current
        return replace(
            current,
            status=step.status,
            status_at=step.at,
            customer_id=step.customer_id,
            customer_locale=step.customer_locale,
            # facts told "with the status" keep the time they were told at
            customer_email_at=_told_at(current.customer_email, current.customer_email_at, current),
            promise_at=_told_at(current.promised_delivery_date, current.promise_at, current),
        )
    return OrderContext(step.status, step.at, step.customer_id, None, step.customer_locale)


Changes = dict[str, Any]
"""A fact's new field values (none if the step does not change it)."""


def _told_at(fact: object, at: datetime | None, state: OrderContext) -> datetime | None:
    """When a fact of `state` was told: its own time, the status's if it came with it, None if none."""
    return None if fact is None else at or state.status_at


def _email(state: OrderContext, step: OrderStep) -> Changes:
    email = step.customer_email
    held_at = _told_at(state.customer_email, state.customer_email_at, state)
    if email and _newer(step.at, email, held_at, state.customer_email):
        return {"customer_email": email, "customer_email_at": step.at}
    return {}


def _promise(state: OrderContext, step: OrderStep) -> Changes:
    promised = step.promised_delivery_date
    held = state.promised_delivery_date
    if promised and _newer(step.at, promised, _told_at(held, state.promise_at, state), held):
        return {"promised_delivery_date": promised, "promise_at": step.at}
    return {}


def _shipment_key(shipment: Shipment | None) -> tuple[str, str, str]:
    if shipment is None:
        return ("", "", "")
    return (shipment.carrier, shipment.tracking_number, shipment.tracking_url or "")


def _shipment(state: OrderContext, step: OrderStep) -> Changes:
    shipment = step.shipment
    held = _shipment_key(state.shipment)
    if shipment and _newer(step.at, _shipment_key(shipment), state.shipped_at, held):
        return {"shipment": shipment, "shipped_at": step.at}
    return {}


def _delay(state: OrderContext, step: OrderStep) -> Changes:
    reason = step.delay_reason or ""
    if step.status is OrderStatus.DELAYED and _newer(step.at, reason, state.delayed_at, state.delay_reason):
        return {"delay_reason": reason, "delayed_at": step.at}
    return {}


def _contents(state: OrderContext, step: OrderStep) -> Changes:
    contents = step.contents
    if contents and _newer(step.at, contents, state.contents_at, state.contents):
        return {"contents": contents, "contents_at": step.at}
    return {}


def _placed(state: OrderContext, held: OrderContext | None, step: OrderStep) -> Changes:
    """The earliest step's time: order.created's when it came, whatever arrived first."""
    placed = step.at if held is None else min(held.placed_at or held.status_at, step.at)
    return {} if state.placed_at == placed else {"placed_at": placed}


FACTS = (_email, _promise, _shipment, _delay, _contents)
"""Each reads and changes its own fields only, so they are decided on the same state and applied in
one `replace` (a replace per fact cost more than the rest of the fold: docs/benchmarks.md)."""


def apply_step(current: OrderContext | None, step: OrderStep) -> OrderContext:
    """Fold one order step in; the same steps in any order end in the same state."""
    state = _status(current, step)
    changes: Changes = _placed(state, current, step)
    for fact in FACTS:
        changes.update(fact(state, step))
    return replace(state, **changes) if changes else state


def apply_order_step(
    current: OrderContext | None,
    status: OrderStatus,
    at: datetime,
    customer_id: str,
    customer_email: str | None,
    customer_locale: str,
    promised_delivery_date: date | None = None,
) -> OrderContext:
    """Fold in a step that tells its status, customer and promise only."""
    step = OrderStep(status, at, customer_id, customer_email, customer_locale, promised_delivery_date)
    return apply_step(current, step)
