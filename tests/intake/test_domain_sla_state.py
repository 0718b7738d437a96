"""A ticket's SLA state folded from the SLA service's clock events (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from schemas.v1.sla import (
    SlaBreached,
    SlaClockChanged,
    SlaClockStatus,
    SlaEscalated,
    SlaMet,
    SlaMetric,
    SlaOutcome,
    SlaWarning,
)
from services.intake.domain.sla_state import ClockEvent, ClockState, apply, fold, summary

T0 = datetime(2026, 1, 7, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def fields(
    clock_id: str = "c-1", ticket_id: str = "t-1", metric: SlaMetric = SlaMetric.FIRST_RESPONSE
) -> dict[str, Any]:
    return {
        "shop_id": "shop-a",
        "ticket_id": ticket_id,
        "clock_id": clock_id,
        "metric": metric,
        "policy_id": "chat",
        "channel": "chat",
        "priority": "normal",
        "target_seconds": 300,
    }


def changed(
    status: SlaClockStatus,
    at: datetime,
    deadline: datetime | None,
    elapsed: float = 0.0,
    outcome: SlaOutcome | None = None,
    **kw: Any,
) -> SlaClockChanged:
    return SlaClockChanged(
        **fields(**kw), status=status, at=at, deadline=deadline, elapsed_seconds=elapsed, outcome=outcome
    )


def warning(at: datetime, deadline: datetime, **kw: Any) -> SlaWarning:
    return SlaWarning(**fields(**kw), at=at, deadline=deadline, share_of_target=0.8)


def breached(at: datetime, deadline: datetime, **kw: Any) -> SlaBreached:
    return SlaBreached(**fields(**kw), at=at, deadline=deadline, lag_seconds=0.0)


def escalated(at: datetime, deadline: datetime, level: int, to: str, **kw: Any) -> SlaEscalated:
    return SlaEscalated(**fields(**kw), at=at, deadline=deadline, level=level, escalate_to=to)


def met(at: datetime, deadline: datetime, elapsed: float, **kw: Any) -> SlaMet:
    return SlaMet(**fields(**kw), at=at, deadline=deadline, elapsed_seconds=elapsed)


KEY = ("shop-a", "t-1", "c-1")


def test_a_clock_paused_resumed_and_answered_in_time() -> None:
    events: list[ClockEvent] = [
        changed(SlaClockStatus.RUNNING, T0, T0 + 5 * MIN),
        changed(SlaClockStatus.PAUSED, T0 + 2 * MIN, None, 120.0),
        changed(SlaClockStatus.RUNNING, T0 + 10 * MIN, T0 + 13 * MIN, 120.0),
        met(T0 + 11 * MIN, T0 + 13 * MIN, 180.0),
        changed(SlaClockStatus.STOPPED, T0 + 11 * MIN, None, 180.0, SlaOutcome.MET),
    ]
    states = []
    state: ClockState | None = None
    for event in events:
        state = apply(state, event)
        states.append((state.status, state.due_at))
    assert states == [
        ("running", T0 + 5 * MIN),
        ("paused", None),
        ("running", T0 + 13 * MIN),
        ("stopped", None),
        ("stopped", None),
    ]
    assert state is not None
    assert (state.met_at, state.breached_at, state.elapsed_seconds) == (T0 + 11 * MIN, None, 180.0)
    assert (state.started_at, state.changed_at) == (T0, T0 + 11 * MIN)


def test_a_clock_warned_breached_escalated_and_answered_late() -> None:
    due = T0 + 5 * MIN
    folded = fold(
        {},
        [
            changed(SlaClockStatus.RUNNING, T0, due),
            warning(T0 + 4 * MIN, due),
            breached(due, due),
            escalated(due, due, 1, "team_lead"),
            escalated(T0 + 10 * MIN, due, 2, "manager"),
            changed(SlaClockStatus.STOPPED, T0 + 12 * MIN, None, 720.0, SlaOutcome.BREACHED),
        ],
    )
    clock = folded[KEY]
    assert (clock.status, clock.due_at, clock.warned_at, clock.breached_at) == (
        "stopped",
        None,
        T0 + 4 * MIN,
        due,
    )
    assert (clock.escalation_level, clock.escalate_to, clock.met_at) == (2, "manager", None)


def test_a_late_answer_with_no_breach_event_before_it_still_records_the_breach_instant() -> None:
    due = T0 + 5 * MIN
    clock = fold(
        {},
        [
            changed(SlaClockStatus.RUNNING, T0, due),
            changed(SlaClockStatus.STOPPED, T0 + 7 * MIN, None, 420.0, SlaOutcome.BREACHED),
        ],
    )[KEY]
    assert clock.breached_at == due


def test_a_clock_first_seen_through_a_warning_runs_towards_its_deadline() -> None:
    clock = apply(None, warning(T0 + 4 * MIN, T0 + 5 * MIN))
    assert (clock.status, clock.due_at, clock.warned_at, clock.started_at) == (
        "running",
        T0 + 5 * MIN,
        T0 + 4 * MIN,
        T0 + 4 * MIN,
    )


def test_a_ticket_sums_up_its_nearest_running_deadline_and_highest_escalation() -> None:
    clocks = fold(
        {},
        [
            changed(
                SlaClockStatus.RUNNING, T0, T0 + 8 * 60 * MIN, clock_id="res", metric=SlaMetric.RESOLUTION
            ),
            changed(SlaClockStatus.RUNNING, T0, T0 + 5 * MIN, clock_id="first"),
            escalated(T0 + 5 * MIN, T0 + 5 * MIN, 1, "team_lead", clock_id="first"),
            changed(SlaClockStatus.PAUSED, T0 + MIN, None, clock_id="other", ticket_id="t-1"),
        ],
    ).values()
    assert summary(clocks).next_due_at == T0 + 5 * MIN
    assert (summary(clocks).escalation_level, summary(clocks).escalate_to) == (1, "team_lead")
    assert summary([]) == summary([c for c in clocks if c.status == "paused"])
    assert summary([]).next_due_at is None


def test_clocks_of_two_tickets_never_mix_even_under_one_clock_id() -> None:
    folded = fold(
        {},
        [
            changed(SlaClockStatus.RUNNING, T0, T0 + 5 * MIN, ticket_id="t-1"),
            changed(SlaClockStatus.PAUSED, T0 + MIN, None, ticket_id="t-2"),
        ],
    )
    assert {key: c.status for key, c in folded.items()} == {
        ("shop-a", "t-1", "c-1"): "running",
        ("shop-a", "t-2", "c-1"): "paused",
    }


# -- properties -----------------------------------------------------------------------------------

instants = st.integers(min_value=0, max_value=600).map(lambda m: T0 + m * MIN)
statuses = st.sampled_from(list(SlaClockStatus))
outcomes = st.sampled_from([None, *SlaOutcome])


@st.composite
def clock_events(draw: st.DrawFn) -> ClockEvent:
    at, deadline = draw(instants), draw(instants)
    kind = draw(st.sampled_from(["changed", "warning", "breached", "met", "escalated"]))
    if kind == "changed":
        status = draw(statuses)
        due = deadline if status is SlaClockStatus.RUNNING else None
        return changed(status, at, due, draw(st.floats(0, 1e6)), draw(outcomes))
    if kind == "warning":
        return warning(at, deadline)
    if kind == "breached":
        return breached(at, deadline)
    if kind == "met":
        return met(at, deadline, draw(st.floats(0, 1e6)))
    return escalated(at, deadline, draw(st.integers(1, 4)), draw(st.sampled_from(["team_lead", "manager"])))


@given(st.lists(clock_events(), max_size=12), clock_events())
def test_applying_an_event_twice_in_a_row_is_applying_it_once(
    history: list[ClockEvent], event: ClockEvent
) -> None:
    state = fold({}, history).get(KEY)
    once = apply(state, event)
    assert apply(once, event) == once


@given(st.lists(clock_events(), min_size=1, max_size=20))
def test_escalation_never_falls_and_the_last_change_decides_the_status(events: list[ClockEvent]) -> None:
    state: ClockState | None = None
    levels = []
    for event in events:
        state = apply(state, event)
        levels.append(state.escalation_level)
    assert levels == sorted(levels)
    assert state is not None
    deciding = [e for e in events if isinstance(e, SlaClockChanged | SlaMet)]
    if deciding:
        last = deciding[-1]
        expected = last.status.value if isinstance(last, SlaClockChanged) else "stopped"
        assert state.status == expected
        assert state.due_at == (last.deadline if isinstance(last, SlaClockChanged) else None)
    assert state.changed_at == max(e.at for e in events)
    assert state.breached_at is None or any(
        isinstance(e, SlaBreached) or getattr(e, "outcome", None) is SlaOutcome.BREACHED for e in events
    )


@given(st.lists(clock_events(), max_size=20), st.integers(min_value=0, max_value=20))
def test_folding_a_run_in_two_parts_is_folding_it_whole(events: list[ClockEvent], cut: int) -> None:
    assert fold(fold({}, events[:cut]), events[cut:]) == fold({}, events)


@given(st.lists(st.tuples(statuses, instants), max_size=8))
def test_the_next_deadline_is_the_earliest_of_the_running_clocks(
    clocks: list[tuple[SlaClockStatus, datetime]],
) -> None:
    states = [
        apply(None, changed(status, T0, due if status is SlaClockStatus.RUNNING else None, clock_id=f"c-{n}"))
        for n, (status, due) in enumerate(clocks)
    ]
    running = [due for status, due in clocks if status is SlaClockStatus.RUNNING]
    assert summary(states).next_due_at == min(running, default=None)
