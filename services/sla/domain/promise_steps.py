"""Order events as steps on promises, and the fold of a run of steps over the stored promises, without I/O.

Each event becomes steps (open, settle, move, cancel; `STEP_RULES`); the steps of a batch are folded over
the promises they touch, in record order, so an order paid, shipped and delivered inside one batch ends
as if its events came one by one (services/sla/handlers.py reads and writes around the fold). Every step
names its shop: an order id means something only within one shop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

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
from services.sla.domain.calendar import BusinessCalendar
from services.sla.domain.promises import (
    PromiseRecord,
    PromiseStatus,
    StoredPromise,
    end_of_local_day,
    promise_id,
    repair_deadline,
    settled_status,
    ship_by_deadline,
)

OrderKey = tuple[str, str]
"""(shop id, order id): what names an order."""


def customer_of(data: OrderEventData) -> dict[str, Any]:
    return data.customer.model_dump(mode="json", exclude_none=True)


def promise_record(
    data: OrderEventData, kind: PromiseKind, promised_at: datetime, repair_id: str | None = None
) -> PromiseRecord:
    """The running promise an event opens (its shop's, for its order)."""
    return PromiseRecord(
        promise_id(data.shop_id, data.order_id, kind, repair_id),
        data.shop_id,
        data.order_id,
        kind,
        customer_of(data),
        promised_at,
        PromiseStatus.RUNNING,
        repair_id,
    )


@dataclass(frozen=True)
class Open:
    """Start watching the promise; a running one with the same id gets the new promised instant, a
    settled one stays as it is (as open_promise's ON CONFLICT ... WHERE status = 'running' does)."""

    promise: PromiseRecord

    @property
    def order(self) -> OrderKey:
        return (self.promise.shop_id, self.promise.order_id)


@dataclass(frozen=True)
class _OnOrder:
    """A step on promises already stored for the shop's order."""

    shop_id: str
    order_id: str

    @property
    def order(self) -> OrderKey:
        return (self.shop_id, self.order_id)


@dataclass(frozen=True)
class Settle(_OnOrder):
    """The shop's order's running promise of this kind (and repair) was fulfilled at `at`."""

    kind: PromiseKind
    at: datetime
    repair_id: str | None = None


@dataclass(frozen=True)
class Move(_OnOrder):
    """The shop's order's running delivery promise is now due at `promised_at`."""

    promised_at: datetime


@dataclass(frozen=True)
class Cancel(_OnOrder):
    """Every running promise of the shop's order is cancelled at `at`."""

    at: datetime


Step = Open | Settle | Move | Cancel


@dataclass(frozen=True)
class ShipByTerms:
    """What an order.paid needs of its shop's settings when the shop set no ship-by of its own."""

    default_business_hours: int
    calendar: BusinessCalendar


def _paid_steps(event: CloudEvent[Any], timezone: str, terms: ShipByTerms | None) -> list[Step]:
    data: OrderPaid = event.data
    if terms is None:
        raise ValueError(f"order.paid of shop {data.shop_id} folded without the shop's ship-by terms")
    deadline = ship_by_deadline(event.time, data.ship_by, terms.calendar, terms.default_business_hours)
    return [Open(promise_record(data, PromiseKind.SHIP_BY, deadline))]


def _shipped_steps(event: CloudEvent[Any], timezone: str, terms: ShipByTerms | None) -> list[Step]:
    data: OrderShipped = event.data
    deadline = end_of_local_day(data.promised_delivery_date, timezone)
    return [
        Settle(data.shop_id, data.order_id, PromiseKind.SHIP_BY, event.time),
        Open(promise_record(data, PromiseKind.DELIVERY_DATE, deadline)),
    ]


def _delayed_steps(event: CloudEvent[Any], timezone: str, terms: ShipByTerms | None) -> list[Step]:
    data: OrderDelayed = event.data
    if data.new_promised_delivery_date is None:
        return []
    return [Move(data.shop_id, data.order_id, end_of_local_day(data.new_promised_delivery_date, timezone))]


def _delivered_steps(event: CloudEvent[Any], timezone: str, terms: ShipByTerms | None) -> list[Step]:
    data: OrderDelivered = event.data
    return [Settle(data.shop_id, data.order_id, PromiseKind.DELIVERY_DATE, data.delivered_at)]


def _cancelled_steps(event: CloudEvent[Any], timezone: str, terms: ShipByTerms | None) -> list[Step]:
    data: OrderCancelled = event.data
    return [Cancel(data.shop_id, data.order_id, event.time)]


def _repair_received_steps(event: CloudEvent[Any], timezone: str, terms: ShipByTerms | None) -> list[Step]:
    data: RepairReceived = event.data
    deadline = repair_deadline(event.time, data.turnaround_days, timezone)
    return [Open(promise_record(data, PromiseKind.REPAIR_TURNAROUND, deadline, data.repair_id))]


def _repair_completed_steps(event: CloudEvent[Any], timezone: str, terms: ShipByTerms | None) -> list[Step]:
    data: RepairCompleted = event.data
    return [Settle(data.shop_id, data.order_id, PromiseKind.REPAIR_TURNAROUND, event.time, data.repair_id)]


StepRule = Callable[[CloudEvent[Any], str, ShipByTerms | None], list[Step]]
"""An event, its shop's time zone and (for a payment) its shop's ship-by terms, to steps."""
STEP_RULES: dict[str, StepRule] = {
    "order.paid": _paid_steps,
    "order.shipped": _shipped_steps,
    "order.delayed": _delayed_steps,
    "order.delivered": _delivered_steps,
    "order.cancelled": _cancelled_steps,
    "repair.received": _repair_received_steps,
    "repair.completed": _repair_completed_steps,
}
"""One rule per order event type the SLA applies (the sla-orders consumer's types)."""


def orders_of(steps: Iterable[Step]) -> list[OrderKey]:
    """The orders the steps touch, each once, in first-seen order: `fold_steps` needs every stored
    promise of these (a promise's id is made of its shop and order, so this covers the ids opened)."""
    return list(dict.fromkeys(step.order for step in steps))


@dataclass(frozen=True)
class Breach:
    """A promise fulfilled too late (at `at`) while still running: reported as order.promise_breached."""

    promise: PromiseRecord
    at: datetime


@dataclass(frozen=True)
class Folded:
    changed: list[StoredPromise]
    """The promises to write: new ones, and the stored ones that the steps changed."""
    breaches: list[Breach]
    """In step order, which is the order the events would have reported them in one after another."""


@dataclass
class _Table:
    """The promises as the fold goes, by id, and the ids of each order's promises. Only the fold that
    made it changes it, so the step functions below stay pure from the caller's side."""

    rows: dict[str, StoredPromise]
    of_order: dict[OrderKey, list[str]]

    @classmethod
    def of(cls, stored: Iterable[StoredPromise]) -> _Table:
        rows = {s.promise.id: s for s in stored}
        of_order: dict[OrderKey, list[str]] = {}
        for row in rows.values():
            of_order.setdefault((row.promise.shop_id, row.promise.order_id), []).append(row.promise.id)
        return cls(rows, of_order)

    def running(self, order: OrderKey) -> list[StoredPromise]:
        found = (self.rows[i] for i in self.of_order.get(order, ()))
        return [row for row in found if row.promise.status is PromiseStatus.RUNNING]

    def put(self, row: StoredPromise) -> None:
        self.rows[row.promise.id] = row

    def settle(
        self, row: StoredPromise, status: PromiseStatus, at: datetime, breached: datetime | None
    ) -> None:
        # a breach instant already recorded stays, as settle_promise's coalesce keeps it
        breached_at = row.breached_at if row.breached_at is not None else breached
        self.put(StoredPromise(replace(row.promise, status=status), at, breached_at))


def _open(table: _Table, step: Open) -> list[Breach]:
    current = table.rows.get(step.promise.id)
    if current is None:
        table.put(StoredPromise(replace(step.promise, status=PromiseStatus.RUNNING)))
        table.of_order.setdefault(step.order, []).append(step.promise.id)
    elif current.promise.status is PromiseStatus.RUNNING:
        table.put(replace(current, promise=replace(current.promise, promised_at=step.promise.promised_at)))
    return []


def _settle(table: _Table, step: Settle) -> list[Breach]:
    breaches = []
    for row in table.running(step.order):
        if row.promise.kind is not step.kind or row.promise.repair_id != step.repair_id:
            continue
        status = settled_status(step.at, row.promise.promised_at)
        if status is PromiseStatus.BREACHED:
            breaches.append(Breach(row.promise, step.at))
            table.settle(row, status, step.at, row.promise.promised_at)
        else:
            table.settle(row, status, step.at, None)
    return breaches


def _move(table: _Table, step: Move) -> list[Breach]:
    for row in table.running(step.order):
        if row.promise.kind is PromiseKind.DELIVERY_DATE:
            table.put(replace(row, promise=replace(row.promise, promised_at=step.promised_at)))
    return []


def _cancel(table: _Table, step: Cancel) -> list[Breach]:
    for row in table.running(step.order):
        table.settle(row, PromiseStatus.CANCELLED, step.at, None)
    return []


def _apply(table: _Table, step: Step) -> list[Breach]:
    if isinstance(step, Open):
        return _open(table, step)
    if isinstance(step, Settle):
        return _settle(table, step)
    if isinstance(step, Move):
        return _move(table, step)
    return _cancel(table, step)


def fold_steps(stored: Iterable[StoredPromise], steps: Iterable[Step]) -> Folded:
    """Apply the steps, in order, to the promises as stored (every promise of the orders the steps
    touch, `orders_of`), without I/O. Stored rows of other orders may be given: they stay as they are."""
    table = _Table.of(stored)
    before = dict(table.rows)
    breaches = [breach for step in steps for breach in _apply(table, step)]
    changed = [row for promise_id_, row in table.rows.items() if before.get(promise_id_) != row]
    return Folded(changed, breaches)
