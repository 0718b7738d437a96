"""Order events applied to order promises (ship-by, delivery date, repair), in the consumer's transaction."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from runtime.db import Connection
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
