"""A ticket's SLA state as intake keeps it: each of its clocks folded from the SLA service's events.

`sla.clock_changed` gives a clock's status and its deadline whenever either moves (start, pause,
resume, stop, cancel); `sla.warning`, `sla.breached`, `sla.met` and `sla.escalated` add what the
clock went through. The SLA service sends a ticket's events on one key, in the order they happened,
so they are folded in that order. A clock first seen through a warning, breach or escalation (one
that started before intake kept SLA state) is taken as running towards that event's deadline.

Applying an event twice in a row is applying it once (every field is set, or raised to a maximum,
from the event alone); the runtime drops a replayed event by its id before it gets here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from schemas.v1.sla import SlaBreached, SlaClockChanged, SlaEscalated, SlaMet, SlaOutcome, SlaWarning

ClockEvent = SlaClockChanged | SlaWarning | SlaBreached | SlaMet | SlaEscalated
"""The data of an event about one ticket clock."""
CLOCK_EVENT_TYPES = frozenset(
    {"sla.clock_changed", "sla.warning", "sla.breached", "sla.met", "sla.escalated"}
)
RUNNING = "running"

ClockKey = tuple[str, str, str]
"""(shop id, ticket id, clock id): a clock is its ticket's, and a ticket its shop's."""


@dataclass(frozen=True)
class ClockState:
    shop_id: str
    ticket_id: str
    clock_id: str
    metric: str
    status: str
    due_at: datetime | None
    """The breach instant while the clock runs."""
    target_seconds: int
    elapsed_seconds: float | None
    """Counted against the target at the clock's last change of state (None: not told yet)."""
    started_at: datetime
    changed_at: datetime
    warned_at: datetime | None = None
    breached_at: datetime | None = None
    """The instant the target passed (its deadline), not when that was noticed."""
    met_at: datetime | None = None
    escalation_level: int = 0
    escalate_to: str | None = None

    @property
    def key(self) -> ClockKey:
        return (self.shop_id, self.ticket_id, self.clock_id)


@dataclass(frozen=True)
class TicketSla:
    """What a ticket's clocks add up to."""

    next_due_at: datetime | None
    escalation_level: int
    escalate_to: str | None


def _first_seen(data: ClockEvent) -> ClockState:
    return ClockState(
        shop_id=data.shop_id,
        ticket_id=data.ticket_id,
        clock_id=data.clock_id,
        metric=data.metric.value,
        status=RUNNING,
        due_at=data.deadline,
        target_seconds=data.target_seconds,
        elapsed_seconds=None,
        started_at=data.at,
        changed_at=data.at,
    )


def _changed(state: ClockState, data: SlaClockChanged) -> ClockState:
    met, breached = data.outcome is SlaOutcome.MET, data.outcome is SlaOutcome.BREACHED
    return replace(
        state,
        status=data.status.value,
        due_at=data.deadline,
        elapsed_seconds=data.elapsed_seconds,
        met_at=state.met_at or (data.at if met else None),
        # the breach instant is the deadline the clock had (an earlier change of it told it)
        breached_at=state.breached_at or ((state.due_at or data.at) if breached else None),
    )


def apply(state: ClockState | None, data: ClockEvent) -> ClockState:
    """The clock after one of its events."""
    current = state or _first_seen(data)
    current = replace(current, changed_at=max(current.changed_at, data.at))
    if isinstance(data, SlaClockChanged):
        return _changed(current, data)
    if isinstance(data, SlaWarning):
        return replace(current, warned_at=current.warned_at or data.at)
    if isinstance(data, SlaBreached):
        return replace(current, breached_at=current.breached_at or data.deadline)
    if isinstance(data, SlaMet):
        return replace(
            current, status="stopped", due_at=None, elapsed_seconds=data.elapsed_seconds, met_at=data.at
        )
    if isinstance(data, SlaEscalated) and data.level >= current.escalation_level:
        return replace(current, escalation_level=data.level, escalate_to=data.escalate_to)
    return current


def fold(states: Mapping[ClockKey, ClockState], events: Iterable[ClockEvent]) -> dict[ClockKey, ClockState]:
    """Every clock after `events`, applied in order."""
    folded = dict(states)
    for data in events:
        key = (data.shop_id, data.ticket_id, data.clock_id)
        folded[key] = apply(folded.get(key), data)
    return folded


def summary(clocks: Iterable[ClockState]) -> TicketSla:
    """The nearest running deadline and the highest escalation of a ticket's clocks."""
    clocks = list(clocks)
    dues = [c.due_at for c in clocks if c.status == RUNNING and c.due_at is not None]
    top = max(clocks, key=lambda c: c.escalation_level, default=None)
    if top is None or top.escalation_level == 0:
        return TicketSla(min(dues, default=None), 0, None)
    return TicketSla(min(dues, default=None), top.escalation_level, top.escalate_to)
