"""The SLA consumers' handlers, inside the consumer's transaction: ticket events applied to clocks
(`TICKET_HANDLERS`, one per event type), and runs of order events folded into order promises
(`on_order_events` over `ORDER_TYPES`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from runtime.binding import EventHandler
from runtime.consumer import Unprocessable
from runtime.db import Connection
from runtime.metrics import on_commit
from runtime.outbox import enqueue_many
from runtime.shops import Shop
from schemas.envelope import CloudEvent
from schemas.v1.sla import SlaMetric
from schemas.v1.tickets import (
    Author,
    TicketClosed,
    TicketCreated,
    TicketEventData,
    TicketFirstResponse,
    TicketMerged,
    TicketMessageAdded,
    TicketReopened,
    TicketSolved,
    TicketStatus,
    TicketStatusChanged,
)
from services.sla import repository as repo
from services.sla.context import Context
from services.sla.domain import clocks
from services.sla.domain.calendar import BusinessCalendar
from services.sla.domain.clocks import Clock, Crossed, Met
from services.sla.domain.promise_steps import STEP_RULES, ShipByTerms, fold_steps, orders_of
from services.sla.events import (
    Outgoing,
    clock_changed_event,
    crossed_event,
    met_event,
    promise_breached_event,
)

PAUSING = frozenset({TicketStatus.PENDING, TicketStatus.ON_HOLD})
FINISHED = frozenset({TicketStatus.SOLVED, TicketStatus.CLOSED})
RESPONSE_METRICS = frozenset({SlaMetric.FIRST_RESPONSE, SlaMetric.NEXT_RESPONSE})
CLOCK_NAMESPACE = uuid.UUID("5b1a0c1e-6c1f-4a53-9d0e-3f1f5a0c5a11")


async def emit(conn: Connection, ctx: Context, outgoing: Iterable[Outgoing]) -> None:
    """Enqueue the events in one statement, in order; each is counted once the transaction commits."""
    items = list(outgoing)
    await enqueue_many(conn, ctx.out_topic, [(item.event, item.key) for item in items])
    for item in items:
        on_commit(item.observe)


async def calendar_of(conn: Connection, shop: Shop) -> BusinessCalendar:
    return (await repo.load_calendar(conn, shop.id, shop.timezone)).to_calendar()


def changes(
    ctx: Context,
    records: Sequence[repo.ClockRecord],
    updated: Sequence[Clock],
    at: datetime,
    calendar: BusinessCalendar,
) -> list[Outgoing]:
    """`sla.clock_changed` for each clock whose status or deadline moved (after the clock's own
    warning, breach or met events, so a consumer reads them in the order they happened)."""
    now = ctx.now()
    return [
        clock_changed_event(replace(record, clock=clock), at, now, calendar)
        for record, clock in zip(records, updated, strict=True)
        if (clock.status, clock.deadline) != (record.clock.status, record.clock.deadline)
    ]


# -- tickets ----------------------------------------------------------------------------------


async def _start_clocks(
    conn: Connection,
    ctx: Context,
    event_id: str,
    data: TicketEventData,
    metrics: Iterable[SlaMetric],
    at: datetime,
    paused: bool,
    calendar: BusinessCalendar,
) -> None:
    policies = await repo.load_policies(conn, data.shop_id)
    records = []
    for metric in metrics:
        resolved = policies.resolve(metric, data.priority, data.channel, data.category)
        if resolved is None:
            continue  # no policy of the shop sets this target for such tickets
        clock_id = str(uuid.uuid5(CLOCK_NAMESPACE, f"{event_id}:{metric.value}"))
        clock = clocks.start(
            clock_id,
            metric,
            resolved.target,
            resolved.business_hours,
            resolved.stages,
            at,
            calendar,
            paused=paused,
        )
        records.append(
            repo.ClockRecord(
                clock,
                data.shop_id,
                data.ticket_id,
                resolved.policy_id,
                data.channel.value,
                data.category.value,
                data.priority.value,
            )
        )
    await repo.insert_clocks(conn, records)
    now = ctx.now()
    await emit(conn, ctx, [clock_changed_event(r, at, now, calendar) for r in records])


async def _ticket(conn: Connection, data: TicketEventData) -> repo.TicketState:
    """The ticket's state; one first seen mid-life (events before SLA existed) starts as open."""
    found = await repo.lock_ticket(conn, data.ticket_id)
    if found is not None:
        if found.shop_id != data.shop_id:
            raise Unprocessable(f"ticket {data.ticket_id} belongs to another shop")
        return found
    return repo.TicketState(data.ticket_id, data.shop_id, TicketStatus.OPEN.value, False)


async def _stop(
    conn: Connection,
    ctx: Context,
    records: list[repo.ClockRecord],
    at: datetime,
    calendar: BusinessCalendar,
    *,
    cancel: bool = False,
) -> None:
    now = ctx.now()
    updated, outgoing = [], []
    for record in records:
        if cancel:
            updated.append(clocks.cancel(record.clock, at))
            continue
        deadline = record.clock.projected_deadline(at, calendar)
        stopped, result = clocks.stop(record.clock, at, calendar)
        updated.append(stopped)
        done = replace(record, clock=stopped)
        if isinstance(result, Met):
            outgoing.append(met_event(done, result, deadline, at, now))
        elif isinstance(result, Crossed):
            outgoing.append(crossed_event(done, result, deadline, at, now))
    await repo.update_clocks(conn, updated)
    await emit(conn, ctx, outgoing + changes(ctx, records, updated, at, calendar))


async def _pause(
    conn: Connection,
    ctx: Context,
    records: list[repo.ClockRecord],
    at: datetime,
    calendar: BusinessCalendar,
) -> None:
    now = ctx.now()
    updated, outgoing = [], []
    for record in records:
        deadline = record.clock.deadline
        paused, crossed = clocks.pause(record.clock, at, calendar)
        updated.append(paused)
        if deadline is not None:
            outgoing += [crossed_event(record, c, deadline, at, now) for c in crossed]
    await repo.update_clocks(conn, updated)
    await emit(conn, ctx, outgoing + changes(ctx, records, updated, at, calendar))


async def on_ticket_created(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: TicketCreated = event.data
    opened_at = data.at or event.time  # intake's `at` is domain time; the envelope's is wall time
    shop = ctx.shop(data.shop_id)
    if await repo.lock_ticket(conn, data.ticket_id) is not None:
        return  # the same ticket announced twice under two event ids: its clocks already run
    calendar = await calendar_of(conn, shop)
    ticket = repo.TicketState(data.ticket_id, data.shop_id, data.status.value, False)
    await repo.save_ticket(conn, ticket, opened_at)
    if data.status in FINISHED:
        return
    metrics = (SlaMetric.FIRST_RESPONSE, SlaMetric.RESOLUTION)
    await _start_clocks(conn, ctx, event.id, data, metrics, opened_at, data.status in PAUSING, calendar)


async def on_message_added(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: TicketMessageAdded = event.data
    if data.internal or data.author is Author.SYSTEM:
        return  # internal notes and automatic messages are not responses
    shop = ctx.shop(data.shop_id)
    ticket = await _ticket(conn, data)
    calendar = await calendar_of(conn, shop)
    active = await repo.lock_active_clocks(conn, data.ticket_id)
    if data.author is Author.AGENT:
        answered = [r for r in active if r.clock.metric in RESPONSE_METRICS]
        await _stop(conn, ctx, answered, data.at, calendar)
        ticket = replace(ticket, agent_replied=True)
    elif ticket.agent_replied and not any(r.clock.metric is SlaMetric.NEXT_RESPONSE for r in active):
        paused = TicketStatus(ticket.status) in PAUSING
        await _start_clocks(conn, ctx, event.id, data, (SlaMetric.NEXT_RESPONSE,), data.at, paused, calendar)
    await repo.save_ticket(conn, ticket, data.at)


async def on_first_response(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: TicketFirstResponse = event.data
    shop = ctx.shop(data.shop_id)
    ticket = await _ticket(conn, data)
    active = await repo.lock_active_clocks(conn, data.ticket_id)
    first = [r for r in active if r.clock.metric is SlaMetric.FIRST_RESPONSE]
    await _stop(conn, ctx, first, data.at, await calendar_of(conn, shop))
    await repo.save_ticket(conn, replace(ticket, agent_replied=True), data.at)


async def on_status_changed(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: TicketStatusChanged = event.data
    shop = ctx.shop(data.shop_id)
    ticket = await _ticket(conn, data)
    calendar = await calendar_of(conn, shop)
    active = await repo.lock_active_clocks(conn, data.ticket_id)
    if data.status in PAUSING:
        await _pause(conn, ctx, active, data.at, calendar)
    elif data.status in FINISHED:
        await _stop(conn, ctx, active, data.at, calendar)
    else:
        resumed = [clocks.resume(r.clock, data.at, calendar) for r in active]
        await repo.update_clocks(conn, resumed)
        await emit(conn, ctx, changes(ctx, active, resumed, data.at, calendar))
    await repo.save_ticket(conn, replace(ticket, status=data.status.value), data.at)


async def on_solved(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: TicketSolved = event.data
    shop = ctx.shop(data.shop_id)
    ticket = await _ticket(conn, data)
    active = await repo.lock_active_clocks(conn, data.ticket_id)
    await _stop(conn, ctx, active, data.at, await calendar_of(conn, shop))
    await repo.save_ticket(conn, replace(ticket, status=TicketStatus.SOLVED.value), data.at)


async def on_reopened(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: TicketReopened = event.data
    shop = ctx.shop(data.shop_id)
    ticket = await _ticket(conn, data)
    active = await repo.lock_active_clocks(conn, data.ticket_id)
    if not any(r.clock.metric is SlaMetric.RESOLUTION for r in active):
        calendar = await calendar_of(conn, shop)
        await _start_clocks(conn, ctx, event.id, data, (SlaMetric.RESOLUTION,), data.at, False, calendar)
    await repo.save_ticket(conn, replace(ticket, status=TicketStatus.OPEN.value), data.at)


async def on_closed(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    """Final: clocks still waiting stop (met or breached); a merge cancels them instead."""
    data: TicketClosed = event.data
    shop = ctx.shop(data.shop_id)
    ticket = await _ticket(conn, data)
    active = await repo.lock_active_clocks(conn, data.ticket_id)
    merged = data.merged_into_ticket_id is not None
    await _stop(conn, ctx, active, data.at, await calendar_of(conn, shop), cancel=merged)
    await repo.save_ticket(conn, replace(ticket, status=TicketStatus.CLOSED.value), data.at)


async def on_merged(event: CloudEvent[Any], conn: Connection, ctx: Context) -> None:
    data: TicketMerged = event.data
    shop = ctx.shop(data.shop_id)
    ticket = await _ticket(conn, data)
    active = await repo.lock_active_clocks(conn, data.ticket_id)
    await _stop(conn, ctx, active, data.at, await calendar_of(conn, shop), cancel=True)
    await repo.save_ticket(conn, replace(ticket, status=TicketStatus.CLOSED.value), data.at)


TICKET_HANDLERS: dict[str, EventHandler[Context]] = {
    "ticket.created": on_ticket_created,
    "ticket.message_added": on_message_added,
    "ticket.first_response": on_first_response,
    "ticket.status_changed": on_status_changed,
    "ticket.solved": on_solved,
    "ticket.reopened": on_reopened,
    "ticket.merged": on_merged,
    "ticket.closed": on_closed,
}
"""The sla-tickets consumer: each ticket event type the SLA applies, and its handler."""


# -- orders -----------------------------------------------------------------------------------
# One path: each event of a run (a Kafka batch, or a batch of one) becomes steps on promises, folded in
# memory in record order (domain/promise_steps.py, pure), and the end state is written at once. A
# promise is its shop's: every read and lock names the shop and the order.

ORDER_TYPES = frozenset(STEP_RULES)
"""The order event types of the sla-orders consumer."""


async def on_order_events(events: Sequence[CloudEvent[Any]], conn: Connection, ctx: Context) -> None:
    """A run of order events (record order) in at most four round trips, however many events and
    orders: the ship-by terms of the shops with a payment in the run, the lock of every promise the
    run touches, one upsert of the promises that changed, and the outbox.

    An event of an unknown shop makes it raise before any I/O (the runtime then redoes the run event
    by event and dead-letters that one)."""
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
        for item in outgoing:
            on_commit(item.observe)
