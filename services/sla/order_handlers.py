"""Order events applied to order promises (ship-by, delivery date, repair), in the consumer's transaction.

Two paths with one effect: a handler per event type (the reference, and the runtime's fallback when a
batch raises), and `on_order_events` for a whole Kafka batch, which turns each event into steps on
promises, folds them in memory in record order (pure, below) and writes the end state at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from runtime.db import Connection
from runtime.outbox import enqueue_many
from runtime.shops import Shop
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
from services.sla.domain.calendar import BusinessCalendar
from services.sla.domain.promises import (
    PromiseStatus,
    end_of_local_day,
    promise_id,
    repair_deadline,
    settled_status,
    ship_by_deadline,
)
from services.sla.events import promise_breached_event
from services.sla.handlers import SlaContext, calendar_of, emit


def _customer(data: OrderEventData) -> dict[str, Any]:
    return data.customer.model_dump(mode="json", exclude_none=True)


async def _open(
    conn: Connection,
    data: OrderEventData,
    kind: PromiseKind,
    promised_at: datetime,
    repair_id: str | None = None,
) -> None:
    promise = repo.PromiseRecord(
        promise_id(data.order_id, kind, repair_id),
        data.shop_id,
        data.order_id,
        kind,
        _customer(data),
        promised_at,
        PromiseStatus.RUNNING,
        repair_id,
    )
    await repo.open_promise(conn, promise)


async def _settle(
    conn: Connection,
    ctx: SlaContext,
    order_id: str,
    kind: PromiseKind,
    at: datetime,
    repair_id: str | None = None,
) -> None:
    """The promise was fulfilled at `at`: kept, or breached if that was too late and not yet reported."""
    for promise in await repo.lock_running_promises(conn, order_id):
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
    await _settle(conn, ctx, data.order_id, PromiseKind.SHIP_BY, event.time)
    deadline = end_of_local_day(data.promised_delivery_date, shop.timezone)
    await _open(conn, data, PromiseKind.DELIVERY_DATE, deadline)


async def on_order_delayed(event: CloudEvent[Any], conn: Connection, ctx: SlaContext) -> None:
    """A shop that announces a new delivery date is held to the new date from then on."""
    data: OrderDelayed = event.data
    shop = ctx.shop(data.shop_id)
    if data.new_promised_delivery_date is None:
        return
    for promise in await repo.lock_running_promises(conn, data.order_id):
        if promise.kind is PromiseKind.DELIVERY_DATE:
            deadline = end_of_local_day(data.new_promised_delivery_date, shop.timezone)
            await repo.open_promise(conn, replace(promise, promised_at=deadline))


async def on_order_delivered(event: CloudEvent[Any], conn: Connection, ctx: SlaContext) -> None:
    data: OrderDelivered = event.data
    ctx.shop(data.shop_id)
    await _settle(conn, ctx, data.order_id, PromiseKind.DELIVERY_DATE, data.delivered_at)


async def on_order_cancelled(event: CloudEvent[Any], conn: Connection, ctx: SlaContext) -> None:
    data: OrderCancelled = event.data
    ctx.shop(data.shop_id)
    for promise in await repo.lock_running_promises(conn, data.order_id):
        await repo.settle_promise(conn, promise.id, PromiseStatus.CANCELLED, event.time, None)


async def on_repair_received(event: CloudEvent[Any], conn: Connection, ctx: SlaContext) -> None:
    data: RepairReceived = event.data
    shop = ctx.shop(data.shop_id)
    deadline = repair_deadline(event.time, data.turnaround_days, shop.timezone)
    await _open(conn, data, PromiseKind.REPAIR_TURNAROUND, deadline, data.repair_id)


async def on_repair_completed(event: CloudEvent[Any], conn: Connection, ctx: SlaContext) -> None:
    data: RepairCompleted = event.data
    ctx.shop(data.shop_id)
    await _settle(conn, ctx, data.order_id, PromiseKind.REPAIR_TURNAROUND, event.time, data.repair_id)


# -- a whole batch at a time ------------------------------------------------------------------
# Each event becomes steps on promises (pure); the steps of a batch are folded over the promises they
# touch, in record order, as the handlers above would apply them one after another, so an order paid,
# shipped and delivered inside one batch ends as if its events came one by one.


@dataclass(frozen=True)
class Open:
    """Start watching the promise; a running one with the same id gets the new promised instant, a
    settled one stays as it is (open_promise's ON CONFLICT ... WHERE status = 'running')."""

    promise: repo.PromiseRecord


@dataclass(frozen=True)
class Settle:
    """The order's running promise of this kind (and repair) was fulfilled at `at`."""

    order_id: str
    kind: PromiseKind
    at: datetime
    repair_id: str | None = None


@dataclass(frozen=True)
class Move:
    """The order's running delivery promise is now due at `promised_at`."""

    order_id: str
    promised_at: datetime


@dataclass(frozen=True)
class Cancel:
    """Every running promise of the order is cancelled at `at`."""

    order_id: str
    at: datetime


Step = Open | Settle | Move | Cancel


@dataclass(frozen=True)
class ShipByTerms:
    """What an order.paid needs of its shop's settings when the shop set no ship-by of its own."""

    default_business_hours: int
    calendar: BusinessCalendar


def _record(
    data: OrderEventData, kind: PromiseKind, promised_at: datetime, repair_id: str | None = None
) -> repo.PromiseRecord:
    return repo.PromiseRecord(
        promise_id(data.order_id, kind, repair_id),
        data.shop_id,
        data.order_id,
        kind,
        _customer(data),
        promised_at,
        PromiseStatus.RUNNING,
        repair_id,
    )


def _paid_steps(event: CloudEvent[Any], shop: Shop, terms: ShipByTerms | None) -> list[Step]:
    data: OrderPaid = event.data
    if terms is None:
        raise ValueError(f"order.paid of shop {shop.id} folded without the shop's ship-by terms")
    deadline = ship_by_deadline(event.time, data.ship_by, terms.calendar, terms.default_business_hours)
    return [Open(_record(data, PromiseKind.SHIP_BY, deadline))]


def _shipped_steps(event: CloudEvent[Any], shop: Shop, terms: ShipByTerms | None) -> list[Step]:
    data: OrderShipped = event.data
    deadline = end_of_local_day(data.promised_delivery_date, shop.timezone)
    return [
        Settle(data.order_id, PromiseKind.SHIP_BY, event.time),
        Open(_record(data, PromiseKind.DELIVERY_DATE, deadline)),
    ]


def _delayed_steps(event: CloudEvent[Any], shop: Shop, terms: ShipByTerms | None) -> list[Step]:
    data: OrderDelayed = event.data
    if data.new_promised_delivery_date is None:
        return []
    return [Move(data.order_id, end_of_local_day(data.new_promised_delivery_date, shop.timezone))]


def _delivered_steps(event: CloudEvent[Any], shop: Shop, terms: ShipByTerms | None) -> list[Step]:
    data: OrderDelivered = event.data
    return [Settle(data.order_id, PromiseKind.DELIVERY_DATE, data.delivered_at)]


def _cancelled_steps(event: CloudEvent[Any], shop: Shop, terms: ShipByTerms | None) -> list[Step]:
    data: OrderCancelled = event.data
    return [Cancel(data.order_id, event.time)]


def _repair_received_steps(event: CloudEvent[Any], shop: Shop, terms: ShipByTerms | None) -> list[Step]:
    data: RepairReceived = event.data
    deadline = repair_deadline(event.time, data.turnaround_days, shop.timezone)
    return [Open(_record(data, PromiseKind.REPAIR_TURNAROUND, deadline, data.repair_id))]


def _repair_completed_steps(event: CloudEvent[Any], shop: Shop, terms: ShipByTerms | None) -> list[Step]:
    data: RepairCompleted = event.data
    return [Settle(data.order_id, PromiseKind.REPAIR_TURNAROUND, event.time, data.repair_id)]


StepRule = Callable[[CloudEvent[Any], Shop, ShipByTerms | None], list[Step]]
STEP_RULES: dict[str, StepRule] = {
    "order.paid": _paid_steps,
    "order.shipped": _shipped_steps,
    "order.delayed": _delayed_steps,
    "order.delivered": _delivered_steps,
    "order.cancelled": _cancelled_steps,
    "repair.received": _repair_received_steps,
    "repair.completed": _repair_completed_steps,
}
"""One rule per event type the per-event handlers know (bootstrap.ORDER_HANDLERS)."""


@dataclass(frozen=True)
class Breach:
    """A promise fulfilled too late (at `at`) while still running: reported as order.promise_breached."""

    promise: repo.PromiseRecord
    at: datetime


@dataclass(frozen=True)
class Folded:
    changed: list[repo.StoredPromise]
    """The promises to write: new ones, and the stored ones that the steps changed."""
    breaches: list[Breach]
    """In step order, which is the order the per-event handlers would have enqueued them in."""


def fold_steps(stored: Iterable[repo.StoredPromise], steps: Iterable[Step]) -> Folded:
    """Apply the steps, in order, to the promises as stored (every promise of the orders the steps
    settle, move or cancel, and every stored row with an id the steps open), without I/O."""
    before = {s.promise.id: s for s in stored}
    rows = dict(before)
    of_order: dict[str, list[str]] = {}
    for row in rows.values():
        of_order.setdefault(row.promise.order_id, []).append(row.promise.id)
    breaches: list[Breach] = []

    def running(order_id: str) -> list[repo.StoredPromise]:
        found = (rows[i] for i in of_order.get(order_id, ()))
        return [row for row in found if row.promise.status is PromiseStatus.RUNNING]

    def settle(
        row: repo.StoredPromise, status: PromiseStatus, at: datetime, breached: datetime | None
    ) -> None:
        # settle_promise keeps a breach instant already recorded (coalesce)
        breached_at = row.breached_at if row.breached_at is not None else breached
        rows[row.promise.id] = repo.StoredPromise(replace(row.promise, status=status), at, breached_at)

    for step in steps:
        if isinstance(step, Open):
            current = rows.get(step.promise.id)
            if current is None:
                rows[step.promise.id] = repo.StoredPromise(
                    replace(step.promise, status=PromiseStatus.RUNNING)
                )
                of_order.setdefault(step.promise.order_id, []).append(step.promise.id)
            elif current.promise.status is PromiseStatus.RUNNING:
                moved = replace(current.promise, promised_at=step.promise.promised_at)
                rows[step.promise.id] = replace(current, promise=moved)
        elif isinstance(step, Settle):
            for row in running(step.order_id):
                if row.promise.kind is not step.kind or row.promise.repair_id != step.repair_id:
                    continue
                status = settled_status(step.at, row.promise.promised_at)
                if status is PromiseStatus.BREACHED:
                    breaches.append(Breach(row.promise, step.at))
                    settle(row, status, step.at, row.promise.promised_at)
                else:
                    settle(row, status, step.at, None)
        elif isinstance(step, Move):
            for row in running(step.order_id):
                if row.promise.kind is PromiseKind.DELIVERY_DATE:
                    rows[row.promise.id] = replace(
                        row, promise=replace(row.promise, promised_at=step.promised_at)
                    )
        else:
            for row in running(step.order_id):
                settle(row, PromiseStatus.CANCELLED, step.at, None)
    changed = [row for promise_id_, row in rows.items() if before.get(promise_id_) != row]
    return Folded(changed, breaches)


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
        for step in STEP_RULES[event.type](event, shop, terms.get(shop.id))
    ]
    if not steps:
        return
    orders = dict.fromkeys(step.order_id for step in steps if not isinstance(step, Open))
    opened = [step.promise.id for step in steps if isinstance(step, Open)]
    folded = fold_steps(await repo.lock_promises(conn, list(orders), opened), steps)
    await repo.save_promises(conn, folded.changed)
    if folded.breaches:
        now = ctx.now()
        outgoing = [promise_breached_event(b.promise, b.at, now) for b in folded.breaches]
        await enqueue_many(conn, ctx.out_topic, [(item.event, item.key) for item in outgoing])
        # Counted inside the transaction, as `emit` does: a rolled-back batch may count twice (rare).
        for item in outgoing:
            item.observe()
