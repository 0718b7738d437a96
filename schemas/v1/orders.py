"""Order-journey events published by shop platforms on `orders.events`, keyed by order id."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field, HttpUrl

from schemas.v1.common import Customer, EventData


class OrderLine(EventData):
    sku: str = Field(min_length=1, max_length=100)
    name: str = Field(max_length=300)
    quantity: int = Field(ge=1)
    unit_price: Decimal = Field(ge=0)


class OrderEventData(EventData):
    """What every order step carries: whose shop, which order, which customer."""

    shop_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    order_id: str = Field(min_length=1, max_length=128)
    customer: Customer


class OrderCreated(OrderEventData):
    total: Decimal = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    lines: list[OrderLine] = Field(default_factory=list, max_length=500)


class OrderPaid(OrderEventData):
    amount: Decimal = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    payment_method: str | None = None
    ship_by: datetime | None = None
    """The shop's promise to hand the parcel to the carrier; SLA watches it."""


class OrderShipped(OrderEventData):
    carrier: str = Field(min_length=1, max_length=100)
    tracking_number: str = Field(min_length=1, max_length=100)
    tracking_url: HttpUrl | None = None
    promised_delivery_date: date


class OrderOutForDelivery(OrderEventData):
    carrier: str | None = None
    tracking_number: str | None = None


class OrderDelivered(OrderEventData):
    delivered_at: datetime


class OrderDelayed(OrderEventData):
    reason: str = Field(max_length=500)
    new_promised_delivery_date: date | None = None


class OrderCancelled(OrderEventData):
    reason: str | None = Field(default=None, max_length=500)


class ReturnRequested(OrderEventData):
    return_id: str = Field(min_length=1, max_length=128)
    reason: str | None = Field(default=None, max_length=500)
    skus: list[str] = Field(default_factory=list)


class ReturnReceived(OrderEventData):
    return_id: str = Field(min_length=1, max_length=128)


class RefundIssued(OrderEventData):
    amount: Decimal = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    return_id: str | None = None


class RepairReceived(OrderEventData):
    repair_id: str = Field(min_length=1, max_length=128)
    turnaround_days: int = Field(ge=1, le=365)
    """The repair turnaround the shop declared; SLA watches it."""


class RepairCompleted(OrderEventData):
    repair_id: str = Field(min_length=1, max_length=128)
    outcome: Literal["repaired", "replaced", "refunded", "rejected"] = "repaired"


ORDER_EVENT_TYPES: dict[str, type[OrderEventData]] = {
    "order.created": OrderCreated,
    "order.paid": OrderPaid,
    "order.shipped": OrderShipped,
    "order.out_for_delivery": OrderOutForDelivery,
    "order.delivered": OrderDelivered,
    "order.delayed": OrderDelayed,
    "order.cancelled": OrderCancelled,
    "return.requested": ReturnRequested,
    "return.received": ReturnReceived,
    "refund.issued": RefundIssued,
    "repair.received": RepairReceived,
    "repair.completed": RepairCompleted,
}
