"""Order promises: ship-by, delivery date and repair turnaround, each breach reported once, each shop's
orders its own (order ids are per shop)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from runtime.clock import ManualClock
from runtime.service import ServiceApp
from runtime.settings import Settings
from schemas import topics
from tests.sla.support import T0, order_event, running_sla, send, sla_events
from tests.support.shops import SHOP_A, SHOP_B
from tests.support.wait import eventually

pytestmark = pytest.mark.kafka
HOUR = timedelta(hours=1)
A, B = f"{SHOP_A}:", f"{SHOP_B}:"
"""A promise's id starts with its shop's."""
PAID: dict[str, Any] = {"amount": Decimal("10.00"), "currency": "PLN"}
SHIPPED: dict[str, Any] = {
    "carrier": "InPost",
    "tracking_number": "X1",
    "promised_delivery_date": date(2026, 1, 8),
}


async def promise_states(app: ServiceApp) -> dict[str, str]:
    rows = await app.runtime.db.pool.fetch("SELECT id, status FROM promises")
    return {r["id"]: r["status"] for r in rows}


async def wait_states(app: ServiceApp, expected: dict[str, str]) -> None:
    async def reached() -> bool:
        states = await promise_states(app)
        return all(states.get(k) == v for k, v in expected.items())

    await eventually(reached)


async def test_order_promises_are_watched_until_kept_cancelled_or_breached(infra: Settings) -> None:
    clock = ManualClock(T0)  # Wednesday 10:00 Warsaw
    async with running_sla(infra, clock) as app:
        await send(
            infra,
            topics.ORDERS,
            # o-late: promised to ship within an hour, never ships; shop B's o-late is another order,
            # whose shipment leaves shop A's promise alone
            order_event("order.paid", "o-late", T0, ship_by=T0 + HOUR, **PAID),
            order_event("order.shipped", "o-late", T0 + HOUR / 2, shop=SHOP_B, **SHIPPED),
            # o-kept: ships in time, delivered in time
            order_event("order.paid", "o-kept", T0, ship_by=T0 + HOUR, **PAID),
            order_event("order.shipped", "o-kept", T0 + HOUR / 2, **SHIPPED),
            order_event("order.delivered", "o-kept", T0 + 2 * HOUR, delivered_at=T0 + 2 * HOUR),
            # o-cancel: cancelled before its ship-by: nothing to report
            order_event("order.paid", "o-cancel", T0, ship_by=T0 + HOUR, **PAID),
            order_event("order.cancelled", "o-cancel", T0 + HOUR / 4),
            # o-default: no ship-by given: the shop default of 48 business hours applies
            order_event("order.paid", "o-default", T0, **PAID),
            # o-lost: shipped in time, not delivered by the end of 2026-01-08 in Warsaw
            order_event("order.paid", "o-lost", T0, ship_by=T0 + HOUR, **PAID),
            order_event("order.shipped", "o-lost", T0 + HOUR / 2, **SHIPPED),
            # o-repair: a 1-day repair that is never completed; o-fixed completes in time
            order_event("repair.received", "o-repair", T0, repair_id="r-1", turnaround_days=1),
            order_event("repair.received", "o-fixed", T0, repair_id="r-2", turnaround_days=1),
            order_event("repair.completed", "o-fixed", T0 + 5 * HOUR, repair_id="r-2"),
        )
        await wait_states(
            app,
            {
                A + "o-late:ship_by": "running",
                B + "o-late:delivery_date": "running",
                A + "o-kept:ship_by": "kept",
                A + "o-kept:delivery_date": "kept",
                A + "o-cancel:ship_by": "cancelled",
                A + "o-default:ship_by": "running",
                A + "o-lost:ship_by": "kept",
                A + "o-lost:delivery_date": "running",
                A + "o-repair:repair_turnaround:r-1": "running",
                A + "o-fixed:repair_turnaround:r-2": "kept",
            },
        )
        default_due = await app.runtime.db.pool.fetchval(
            "SELECT promised_at FROM promises WHERE id = $1", A + "o-default:ship_by"
        )
        # 48 business hours from Wednesday 10:00 = six working days later, Thursday 10:00 (09:00 UTC)
        assert default_due == T0 + timedelta(days=8)

        clock.set(T0 + HOUR + timedelta(seconds=1))
        await wait_states(app, {A + "o-late:ship_by": "breached"})
        # 2026-01-08 ends at 23:00 UTC in Warsaw; the repair received on the 7th is due by the end of the 8th
        clock.set(T0 + timedelta(days=1, hours=14, seconds=1))
        await wait_states(
            app, {A + "o-lost:delivery_date": "breached", A + "o-repair:repair_turnaround:r-1": "breached"}
        )
        # the late parcel arrives: the breach was already reported, nothing more goes out
        await send(
            infra,
            topics.ORDERS,
            order_event(
                "order.delivered", "o-lost", T0 + timedelta(days=2), delivered_at=T0 + timedelta(days=2)
            ),
        )
        clock.set(T0 + timedelta(days=20))
        # shop B's parcel, due by the end of 2026-01-08 in London, never arrived either
        await wait_states(app, {A + "o-default:ship_by": "breached", B + "o-late:delivery_date": "breached"})
        found = await sla_events(infra, app)

    breaches = sorted((e.data.shop_id, e.data.order_id, e.data.promise.value) for e in found)
    assert breaches == [
        (SHOP_A, "o-default", "ship_by"),
        (SHOP_A, "o-late", "ship_by"),
        (SHOP_A, "o-lost", "delivery_date"),
        (SHOP_A, "o-repair", "repair_turnaround"),
        (SHOP_B, "o-late", "delivery_date"),
    ]
    assert all(e.type == "order.promise_breached" and e.subject == e.data.order_id for e in found)
    late = next(e for e in found if e.data.order_id == "o-late" and e.data.shop_id == SHOP_A)
    assert late.data.promised_at == T0 + HOUR
    assert late.data.customer.email == "c-1@example.com"
    repair = next(e for e in found if e.data.order_id == "o-repair")
    assert repair.data.repair_id == "r-1"


async def test_events_of_unknown_shops_are_dead_lettered_with_the_reason(infra: Settings) -> None:
    from runtime.kafka import DLQ_REASON
    from tests.sla.support import ticket_event
    from tests.support.kafka import read_topic

    async with running_sla(infra, ManualClock(T0)):
        await send(infra, topics.ORDERS, order_event("order.paid", "o-x", T0, shop="nobody", **PAID))
        await send(infra, topics.TICKETS, ticket_event("ticket.created", "t-x", T0, shop="nobody"))
        for topic in (topics.ORDERS, topics.TICKETS):
            dead = await read_topic(infra, topic.dlq, at_least=1)
            assert [dict(r.headers)[DLQ_REASON] for r in dead] == [b"unprocessable: unknown shop nobody"]
