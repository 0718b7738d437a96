"""Realistic order journeys of a shop, as the CloudEvents a shop platform would publish.

Pure: a seeded random generator and a start instant in, a time-ordered list of (due, event) out.
Used by the live demo, the benchmarks and the fault-injection suite.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from demo.people import make_customer
from schemas.envelope import CloudEvent
from schemas.registry import make_event
from schemas.v1.common import Customer
from schemas.v1.orders import (
    OrderCancelled,
    OrderCreated,
    OrderDelayed,
    OrderDelivered,
    OrderEventData,
    OrderLine,
    OrderOutForDelivery,
    OrderPaid,
    OrderShipped,
    RefundIssued,
    RepairCompleted,
    RepairReceived,
    ReturnReceived,
    ReturnRequested,
)

SOURCE = "shop-platform/demo"
PRODUCTS = (
    ("SKU-KETTLE", "Czajnik elektryczny", Decimal("149.00")),
    ("SKU-HEADPH", "Słuchawki bezprzewodowe", Decimal("399.00")),
    ("SKU-BLENDR", "Blender kielichowy", Decimal("289.90")),
    ("SKU-LAMP", "Lampka biurkowa LED", Decimal("89.99")),
    ("SKU-MUG", "Kubek termiczny", Decimal("59.00")),
)
CARRIERS = ("InPost", "DPD", "DHL", "Poczta Polska")


@dataclass(frozen=True)
class ScheduledEvent:
    due: datetime
    event: CloudEvent[Any]

    @property
    def order_id(self) -> str:
        return str(self.event.subject)


@dataclass(frozen=True)
class JourneyMix:
    """Shares of journeys that leave the happy path (the rest: created → paid → shipped → delivered)."""

    cancelled: float = 0.06
    delayed: float = 0.12
    late_shipment: float = 0.05  # paid, but shipped after the ship-by promise
    returned: float = 0.08
    repaired: float = 0.04


# Reasons the shop platform gives; notify quotes them to the customer in the customer's language.
REASONS: dict[str, dict[str, str]] = {
    "pl": {
        "cancelled": "rezygnacja z zamówienia",
        "delayed": "duża liczba przesyłek u przewoźnika",
        "returned": "produkt nie spełnił oczekiwań",
    },
    "en": {
        "cancelled": "cancelled at the customer's request",
        "delayed": "a backlog at the carrier",
        "returned": "the product did not meet expectations",
    },
}


def customer_for(rng: random.Random, n: int, locale: str) -> Customer:
    return make_customer(rng, n, locale)


def reason(locale: str, what: str) -> str:
    return REASONS.get(locale.split("-")[0], REASONS["en"])[what]


def order_journey(
    rng: random.Random,
    shop_id: str,
    order_no: int,
    start: datetime,
    *,
    mix: JourneyMix | None = None,
    locale: str = "pl",
    customer: Customer | None = None,
) -> list[ScheduledEvent]:
    """One order's steps with realistic gaps (hours/days), in time order."""
    mix = mix or JourneyMix()
    order_id = f"{shop_id}-{order_no:07d}"
    who = customer or customer_for(rng, order_no, locale)
    base = {"shop_id": shop_id, "order_id": order_id, "customer": who}
    product = rng.choice(PRODUCTS)
    quantity = rng.randint(1, 3)
    total = product[2] * quantity
    steps: list[tuple[datetime, str, OrderEventData]] = []

    def add(at: datetime, event_type: str, data: OrderEventData) -> None:
        steps.append((at, event_type, data))

    now = start
    add(
        now,
        "order.created",
        OrderCreated(
            **base,
            total=total,
            currency="PLN",
            lines=[OrderLine(sku=product[0], name=product[1], quantity=quantity, unit_price=product[2])],
        ),
    )
    roll = rng.random()
    if roll < mix.cancelled:
        add(
            now + timedelta(minutes=rng.randint(5, 240)),
            "order.cancelled",
            OrderCancelled(**base, reason=reason(who.locale, "cancelled")),
        )
        return _events(steps)
    now += timedelta(minutes=rng.randint(1, 30))
    ship_by = now + timedelta(hours=24)
    add(
        now,
        "order.paid",
        OrderPaid(
            **base,
            amount=total,
            currency="PLN",
            payment_method=rng.choice(("blik", "card", "transfer")),
            ship_by=ship_by,
        ),
    )
    late = roll < mix.cancelled + mix.late_shipment
    now = ship_by + timedelta(hours=rng.randint(2, 20)) if late else now + timedelta(hours=rng.uniform(2, 20))
    promised = (now + timedelta(days=2)).date()
    add(
        now,
        "order.shipped",
        OrderShipped(
            **base,
            carrier=rng.choice(CARRIERS),
            tracking_number=f"{rng.randint(10**11, 10**12 - 1)}",
            tracking_url=f"https://tracking.example.com/{order_id}",
            promised_delivery_date=promised,
        ),
    )
    delayed = rng.random() < mix.delayed
    if delayed:
        now += timedelta(hours=rng.uniform(20, 40))
        add(
            now,
            "order.delayed",
            OrderDelayed(
                **base,
                reason=reason(who.locale, "delayed"),
                new_promised_delivery_date=promised + timedelta(days=2),
            ),
        )
        now += timedelta(days=2)
    else:
        now += timedelta(hours=rng.uniform(24, 40))
    add(now, "order.out_for_delivery", OrderOutForDelivery(**base))
    now += timedelta(hours=rng.uniform(2, 8))
    add(now, "order.delivered", OrderDelivered(**base, delivered_at=now))
    after = rng.random()
    if after < mix.returned:
        return_id = f"ret-{order_no:07d}"
        now += timedelta(days=rng.uniform(1, 10))
        add(
            now,
            "return.requested",
            ReturnRequested(
                **base, return_id=return_id, reason=reason(who.locale, "returned"), skus=[product[0]]
            ),
        )
        now += timedelta(days=rng.uniform(2, 5))
        add(now, "return.received", ReturnReceived(**base, return_id=return_id))
        now += timedelta(days=rng.uniform(1, 3))
        add(now, "refund.issued", RefundIssued(**base, amount=total, currency="PLN", return_id=return_id))
    elif after < mix.returned + mix.repaired:
        repair_id = f"rep-{order_no:07d}"
        now += timedelta(days=rng.uniform(5, 30))
        turnaround = rng.choice((7, 14))
        add(now, "repair.received", RepairReceived(**base, repair_id=repair_id, turnaround_days=turnaround))
        now += timedelta(days=rng.uniform(turnaround * 0.5, turnaround * 1.3))
        add(
            now,
            "repair.completed",
            RepairCompleted(**base, repair_id=repair_id, outcome=rng.choice(("repaired", "replaced"))),
        )
    return _events(steps)


def _events(steps: list[tuple[datetime, str, OrderEventData]]) -> list[ScheduledEvent]:
    out = []
    for at, event_type, data in steps:
        out.append(ScheduledEvent(at, make_event(event_type, SOURCE, data, subject=data.order_id, time=at)))
    return out


def shop_day(
    rng: random.Random,
    shop_id: str,
    start: datetime,
    orders: int,
    *,
    first_order_no: int = 1,
    mix: JourneyMix | None = None,
    locale: str = "pl",
) -> list[ScheduledEvent]:
    """`orders` journeys whose creation is spread over 24 hours from `start`, merged in time order."""
    events: list[ScheduledEvent] = []
    for n in range(orders):
        created = start + timedelta(seconds=rng.uniform(0, 24 * 3600))
        events.extend(order_journey(rng, shop_id, first_order_no + n, created, mix=mix, locale=locale))
    events.sort(key=lambda e: e.due)
    return events
