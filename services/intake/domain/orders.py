"""An order's latest state as intake knows it from `orders.events`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum


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


@dataclass(frozen=True)
class OrderContext:
    status: OrderStatus
    status_at: datetime
    customer_id: str
    customer_email: str | None
    customer_locale: str
    promised_delivery_date: date | None = None

    def effective_status(self, today: date) -> OrderStatus:
        """An order in transit past its promised delivery date is late even if nobody said so."""
        if (
            self.status in _IN_TRANSIT
            and self.promised_delivery_date is not None
            and today > self.promised_delivery_date
        ):
            return OrderStatus.DELAYED
        return self.status


def apply_order_step(
    current: OrderContext | None,
    status: OrderStatus,
    at: datetime,
    customer_id: str,
    customer_email: str | None,
    customer_locale: str,
    promised_delivery_date: date | None = None,
) -> OrderContext:
    """Fold one order step in; steps arrive in any order across partitions, so the newest wins."""
    if current is not None and at < current.status_at:
        # an older step still teaches us a promise we did not know yet
        if current.promised_delivery_date is None and promised_delivery_date is not None:
            return replace(current, promised_delivery_date=promised_delivery_date)
        return current
    return OrderContext(
        status=status,
        status_at=at,
        customer_id=customer_id,
        customer_email=customer_email or (current.customer_email if current else None),
        customer_locale=customer_locale,
        promised_delivery_date=promised_delivery_date
        or (current.promised_delivery_date if current else None),
    )
