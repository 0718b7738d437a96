"""Order events applied to order promises (ship-by, delivery date, repair), in the consumer's transaction.

Two paths with one effect: a handler per event type (the reference, and the runtime's fallback when a
batch raises), and `on_order_events` for a whole Kafka batch, which turns each event into steps on
promises, folds them in memory in record order (services/sla/domain/promise_steps.py, pure) and writes
the end state at once. A promise is its shop's: every read and lock names the shop and the order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from runtime.db import Connection
from runtime.outbox import enqueue_many
from schemas.envelope import CloudEvent
from schemas.v1.orders import (
    OrderCancelled,
    OrderDelayed,
    OrderDelivered,
    OrderEventData,
    OrderPaid,
    OrderShipped,
    RepairCompleted,
    RepairReceived,
)
from schemas.v1.sla import PromiseKind
from services.sla import repository as repo
from services.sla.domain.promise_steps import STEP_RULES, ShipByTerms, fold_steps, orders_of, promise_record
from services.sla.domain.promises import (
    PromiseStatus,
    end_of_local_day,
    repair_deadline,
    settled_status,
    ship_by_deadline,
)
from services.sla.events import promise_breached_event
from services.sla.handlers import SlaContext, calendar_of, emit


async def _open(
    conn: Connection,
    data: OrderEventData,
    kind: PromiseKind,
    promised_at: datetime,
    repair_id: str | None = None,
) -> None:
    await repo.open_promise(conn, promise_record(data, kind, promised_at, repair_id))


async def _settle(
    conn: Connection,
    ctx: SlaContext,
    data: OrderEventData,
    kind: PromiseKind,
    at: datetime,
    repair_id: str | None = None,
) -> None:
    """The promise was fulfilled at `at`: kept, or breached if that was too late and not yet reported."""
    for promise in await repo.lock_running_promises(conn, data.shop_id, data.order_id):
        if promise.kind is not kind or promise.repair_id != repair_id:
            continue
        status = settled_status(at, promise.promised_at)
        breached_at = None
        if status is PromiseStatus.BREACHED:
            breached_at = promise.promised_at
            await emit(conn, ctx, [promise_breached_event(promise, at, ctx.now())])
        await repo.settle_promise(conn, promise.id, status, at, breached_at)


async def on_order_paid(event: CloudEvent[Any], conn: Connection, ctx: SlaContext) -> None:
    data: OrderPaid = event.data
    shop = ctx.shop(data.shop_id)
    policies = await repo.load_policies(conn, shop.id)
    deadline = ship_by_deadline(
        event.time, data.ship_by, await calendar_of(conn, shop), policies.default_ship_by_business_hours
    )
    await _open(conn, data, PromiseKind.SHIP_BY, deadline)


async def on_order_shipped(event: CloudEvent[Any], conn: Connection, ctx: SlaContext) -> None:
    data: OrderShipped = event.data
    shop = ctx.shop(data.shop_id)
    await _settle(conn, ctx, data, PromiseKind.SHIP_BY, event.time)
    deadline = end_of_local_day(data.promised_delivery_date, shop.timezone)
    await _open(conn, data, PromiseKind.DELIVERY_DATE, deadline)


async def on_order_delayed(event: CloudEvent[Any], conn: Connection, ctx: SlaContext) -> None:
    """A shop that announces a new delivery date is held to the new date from then on."""
    data: OrderDelayed = event.data
    shop = ctx.shop(data.shop_id)
    if data.new_promised_delivery_date is None:
        return
    for promise in await repo.lock_running_promises(conn, data.shop_id, data.order_id):
        if promise.kind is PromiseKind.DELIVERY_DATE:
            deadline = end_of_local_day(data.new_promised_delivery_date, shop.timezone)
            await repo.open_promise(conn, replace(promise, promised_at=deadline))


async def on_order_delivered(event: CloudEvent[Any], conn: Connection, ctx: SlaContext) -> None:
    data: OrderDelivered = event.data
    ctx.shop(data.shop_id)
    await _settle(conn, ctx, data, PromiseKind.DELIVERY_DATE, data.delivered_at)


async def on_order_cancelled(event: CloudEvent[Any], conn: Connection, ctx: SlaContext) -> None:
    data: OrderCancelled = event.data
    ctx.shop(data.shop_id)
    for promise in await repo.lock_running_promises(conn, data.shop_id, data.order_id):
        await repo.settle_promise(conn, promise.id, PromiseStatus.CANCELLED, event.time, None)


async def on_repair_received(event: CloudEvent[Any], conn: Connection, ctx: SlaContext) -> None:
    data: RepairReceived = event.data
    shop = ctx.shop(data.shop_id)
    deadline = repair_deadline(event.time, data.turnaround_days, shop.timezone)
    await _open(conn, data, PromiseKind.REPAIR_TURNAROUND, deadline, data.repair_id)


async def on_repair_completed(event: CloudEvent[Any], conn: Connection, ctx: SlaContext) -> None:
    data: RepairCompleted = event.data
    ctx.shop(data.shop_id)
    await _settle(conn, ctx, data, PromiseKind.REPAIR_TURNAROUND, event.time, data.repair_id)


# -- a whole batch at a time ------------------------------------------------------------------
# The events become steps and are folded in memory (services/sla/domain/promise_steps.py, pure); here
# only the reads and writes around the fold.


async def on_order_events(events: Sequence[CloudEvent[Any]], conn: Connection, ctx: SlaContext) -> None:
    """The handlers above for a whole batch (record order) in at most four round trips, however many
    events and orders: the ship-by terms of the shops with a payment in the batch, the lock of every
    promise the batch touches, one upsert of the promises that changed, and the outbox.

    An event of an unknown shop makes it raise before any I/O: only the per-event path can dead-letter
    one event, so the runtime redoes the batch through it."""
    shops = [ctx.shop(event.data.shop_id) for event in events]
    paying = {
        shop.id: shop.timezone
        for event, shop in zip(events, shops, strict=True)
        if event.type == "order.paid"
    }
    terms: dict[str, ShipByTerms] = {}
    if paying:
        loaded = await repo.load_ship_by_terms(conn, list(paying.items()))
        terms = {
            shop_id: ShipByTerms(policies.default_ship_by_business_hours, calendar.to_calendar())
            for shop_id, (policies, calendar) in loaded.items()
        }
    steps = [
        step
        for event, shop in zip(events, shops, strict=True)
        for step in STEP_RULES[event.type](event, shop.timezone, terms.get(shop.id))
    ]
    if not steps:
        return
    folded = fold_steps(await repo.lock_promises(conn, orders_of(steps)), steps)
    await repo.save_promises(conn, folded.changed)
    if folded.breaches:
        now = ctx.now()
        outgoing = [promise_breached_event(b.promise, b.at, now) for b in folded.breaches]
        await enqueue_many(conn, ctx.out_topic, [(item.event, item.key) for item in outgoing])
        # Counted inside the transaction, as `emit` does: a rolled-back batch may count twice (rare).
        for item in outgoing:
            item.observe()
