"""`sla.clock_changed`: every start, pause, resume and stop of a ticket clock goes out with the clock's
state after it, in order with the clock's other events, so a consumer knows every running deadline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from runtime.clock import ManualClock
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import CloudEvent
from schemas.v1.tickets import Author
from tests.sla.support import (
    T0,
    clock_rows,
    message,
    running_sla,
    send,
    sla_events,
    status,
    ticket_event,
    wait_clocks,
)
from tests.support.wait import eventually

pytestmark = pytest.mark.kafka
MIN = timedelta(minutes=1)


def first_response(found: list[CloudEvent[Any]]) -> list[tuple[str, Any, Any, Any, Any]]:
    """(type, status, deadline, elapsed, outcome) of the first-response clock's events, in order."""
    return [
        (
            e.type,
            getattr(e.data, "status", None),
            e.data.deadline,
            getattr(e.data, "elapsed_seconds", None),
            getattr(e.data, "outcome", None),
        )
        for e in found
        if e.data.metric.value == "first_response"
    ]


async def test_each_change_of_a_clock_goes_out_with_its_deadline(infra: Settings) -> None:
    clock = ManualClock(T0)
    async with running_sla(infra, clock) as app:
        await send(infra, topics.TICKETS, ticket_event("ticket.created", "t-cc", T0))
        await wait_clocks(app, "t-cc", 2)
        await send(
            infra,
            topics.TICKETS,
            status("t-cc", T0 + 2 * MIN, "open", "pending"),
            status("t-cc", T0 + 10 * MIN, "pending", "open"),
            message("t-cc", T0 + 11 * MIN, Author.AGENT),
        )

        async def answered() -> list[CloudEvent[Any]]:
            found = await sla_events(infra, app, "t-cc", clock_changes=True)
            return found if "sla.met" in {e.type for e in found} else []

        found = await eventually(answered)

    # chat: 5 minutes; 2 counted before the pause, the other 3 after the resume at 10 minutes
    assert first_response(found) == [
        ("sla.clock_changed", "running", T0 + 5 * MIN, 0.0, None),
        ("sla.clock_changed", "paused", None, 120.0, None),
        ("sla.clock_changed", "running", T0 + 13 * MIN, 120.0, None),
        ("sla.met", None, T0 + 13 * MIN, 180.0, None),
        ("sla.clock_changed", "stopped", None, 180.0, "met"),
    ]
    resolution = [e for e in found if e.data.metric.value == "resolution"]
    assert [e.data.status.value for e in resolution] == ["running", "paused", "running"]
    assert resolution[0].data.deadline is not None
    assert {e.data.ticket_id for e in found} == {"t-cc"}
    assert all(e.subject == "t-cc" for e in found)


async def test_a_clock_stopped_after_its_breach_says_so(infra: Settings) -> None:
    clock = ManualClock(T0)
    async with running_sla(infra, clock) as app:
        await send(infra, topics.TICKETS, ticket_event("ticket.created", "t-cb", T0))
        await wait_clocks(app, "t-cb", 2)
        clock.set(T0 + 6 * MIN)  # warned, breached and escalated once; the answer comes late

        async def fired() -> bool:
            rows = await clock_rows(app, "t-cb")
            return any(r["metric"] == "first_response" and r["stages_done"] == 3 for r in rows)

        await eventually(fired)
        await send(infra, topics.TICKETS, message("t-cb", T0 + 7 * MIN, Author.AGENT))

        async def stopped() -> list[CloudEvent[Any]]:
            found = await sla_events(infra, app, "t-cb", clock_changes=True)
            changes = [e for e in found if e.type == "sla.clock_changed"]
            return found if any(e.data.status.value == "stopped" for e in changes) else []

        found = await eventually(stopped)

    ours = [e for e in found if e.data.metric.value == "first_response"]
    assert [(e.type, getattr(e.data, "status", None)) for e in ours] == [
        ("sla.clock_changed", "running"),
        ("sla.warning", None),
        ("sla.breached", None),
        ("sla.escalated", None),
        ("sla.clock_changed", "stopped"),
    ]
    assert ours[-1].data.outcome.value == "breached"
    assert ours[-1].data.deadline is None
    assert ours[-1].data.elapsed_seconds == 420.0
