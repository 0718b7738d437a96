"""The intake-sla consumer: a run of `sla.events` (record order, so each ticket's in the order they
happened) keeps each ticket's SLA state, marks breached tickets, opens a ticket for each broken
order promise and gives an escalated ticket to its level's target (handlers/assignment.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from runtime.consumer import Unprocessable
from runtime.db import Connection
from schemas.envelope import CloudEvent

from .. import metrics
from ..context import Context
from ..domain.sla_state import CLOCK_EVENT_TYPES, ClockEvent, ClockState, fold, summary
from ..repository import sla_state
from .assignment import on_sla_escalated
from .upstream import on_promise_breached, on_sla_breached
from .writes import known_shop

SLA_TYPES = CLOCK_EVENT_TYPES | {"order.promise_breached"}
"""The sla.events types intake applies."""


async def on_sla_events(events: Sequence[CloudEvent[Any]], conn: Connection, ctx: Context) -> None:
    """The clocks of every ticket the run names are read and locked at once, folded in memory and
    written back in one statement; then each breach marks its ticket, each broken promise opens
    one and each escalation reassigns its ticket. An event of an unknown shop or ticket raises (the
    runtime then redoes the run event by event and dead-letters that one)."""
    for event in events:
        known_shop(event.data.shop_id, ctx)
    await keep_clocks([e.data for e in events if e.type in CLOCK_EVENT_TYPES], conn)
    for event in events:
        if event.type == "sla.breached":
            await on_sla_breached(event, conn, ctx)
        elif event.type == "order.promise_breached":
            await on_promise_breached(event, conn, ctx)
        elif event.type == "sla.escalated":
            await on_sla_escalated(event, conn, ctx)


async def keep_clocks(told: Sequence[ClockEvent], conn: Connection) -> None:
    """Fold clock events (in order) into their tickets' SLA state: two statements, however many."""
    if not told:
        return
    keys = sorted({(data.shop_id, data.ticket_id) for data in told})
    known, before = await sla_state.lock_clocks(conn, keys)
    for shop_id, ticket_id in keys:
        if (shop_id, ticket_id) not in known:
            raise Unprocessable(
                f"unknown ticket {ticket_id!r} of shop {shop_id!r}",
                counted=metrics.REJECTED.labels("kafka", "unknown_ticket").inc,
            )
    after = fold(before, told)
    changed = [clock for key, clock in after.items() if before.get(key) != clock]
    of_ticket: dict[tuple[str, str], list[ClockState]] = defaultdict(list)
    for clock in after.values():
        of_ticket[(clock.shop_id, clock.ticket_id)].append(clock)
    touched = sorted({(c.shop_id, c.ticket_id) for c in changed})
    await sla_state.save(conn, changed, {key: summary(of_ticket[key]).next_due_at for key in touched})
