"""Clock stages, pause/resume and stop outcomes; policy matching; order promise deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.v1.contacts import Channel
from schemas.v1.sla import PromiseKind, SlaMetric
from schemas.v1.tickets import Category, Priority
from services.sla.domain import clocks
from services.sla.domain.calendar import CALENDAR_TIME
from services.sla.domain.calendar_document import default_calendar_document
from services.sla.domain.clocks import ClockStatus, Crossed, Met, Outcome, StageKind
from services.sla.domain.policies import DEFAULT_POLICIES, PolicySet
from services.sla.domain.promises import (
    end_of_local_day,
    promise_id,
    repair_deadline,
    settled_status,
    ship_by_deadline,
)

POLAND = default_calendar_document("Europe/Warsaw").to_calendar()
T0 = datetime(2026, 1, 7, 9, 0, tzinfo=UTC)  # Wednesday 10:00 in Warsaw
MIN = timedelta(minutes=1)
CHAT = DEFAULT_POLICIES.resolve(SlaMetric.FIRST_RESPONSE, Priority.NORMAL, Channel.CHAT, Category.OTHER)


def chat_clock(at: datetime = T0) -> clocks.Clock:
    assert CHAT is not None
    return clocks.start("c1", SlaMetric.FIRST_RESPONSE, CHAT.target, True, CHAT.stages, at, POLAND)


def test_default_policies_match_per_metric() -> None:
    def resolve(metric: SlaMetric, priority: Priority, channel: Channel) -> tuple[str, int] | None:
        found = DEFAULT_POLICIES.resolve(metric, priority, channel, Category.OTHER)
        return None if found is None else (found.policy_id, int(found.target.total_seconds()))

    assert resolve(SlaMetric.FIRST_RESPONSE, Priority.URGENT, Channel.CHAT) == ("chat", 300)
    assert resolve(SlaMetric.FIRST_RESPONSE, Priority.LOW, Channel.EMAIL) == ("email", 3600)
    assert resolve(SlaMetric.FIRST_RESPONSE, Priority.LOW, Channel.SOCIAL) == ("social", 3600)
    assert resolve(SlaMetric.RESOLUTION, Priority.URGENT, Channel.CHAT) == ("urgent-resolution", 4 * 3600)
    assert resolve(SlaMetric.RESOLUTION, Priority.NORMAL, Channel.EMAIL) == ("normal-resolution", 24 * 3600)


def test_policy_sets_reject_duplicates_and_typos() -> None:
    doc = DEFAULT_POLICIES.model_dump(mode="json")
    with pytest.raises(ValidationError, match="unique"):
        PolicySet.model_validate({"policies": [doc["policies"][0], doc["policies"][0]]})
    with pytest.raises(ValidationError, match="Extra inputs"):
        PolicySet.model_validate({"policies": [{**doc["policies"][0], "frist_response": {"seconds": 1}}]})


def test_stages_fire_in_order_warning_breach_and_escalations() -> None:
    clock = chat_clock()
    assert clock.deadline == T0 + 5 * MIN
    assert clock.due_at == T0 + 4 * MIN  # 80% warning
    clock, crossed = clocks.fire_due(clock, T0 + 3 * MIN)
    assert crossed == []
    clock, crossed = clocks.fire_due(clock, T0 + 5 * MIN)
    assert [(c.stage.kind, c.stage.level) for c in crossed] == [
        (StageKind.WARNING, 0),
        (StageKind.BREACH, 0),
        (StageKind.ESCALATION, 1),
    ]
    assert clock.outcome is Outcome.BREACHED
    assert clock.due_at == T0 + 10 * MIN  # manager at 2x
    clock, crossed = clocks.fire_due(clock, T0 + 11 * MIN)
    assert [c.stage.escalate_to for c in crossed] == ["manager"]
    assert clock.due_at is None
    assert clocks.fire_due(clock, T0 + 60 * MIN)[1] == []


def test_the_breach_is_recorded_at_the_deadline_and_later_escalations_keep_it() -> None:
    fired, _ = clocks.fire_due(chat_clock(), T0 + 7 * MIN)  # swept two minutes late
    assert (fired.outcome, fired.breached_at, fired.stages_done) == (Outcome.BREACHED, T0 + 5 * MIN, 3)
    escalated, crossed = clocks.fire_due(fired, T0 + 10 * MIN)
    assert [c.stage.level for c in crossed] == [2]
    assert (escalated.outcome, escalated.breached_at, escalated.stages_done) == (
        Outcome.BREACHED,
        T0 + 5 * MIN,
        4,
    )
    unchanged = clocks.fire_due(escalated, T0 + 11 * MIN)
    assert unchanged == (escalated, [])


def test_pause_banks_elapsed_time_and_resume_moves_the_deadline() -> None:
    clock = chat_clock()
    clock, _ = clocks.pause(clock, T0 + 2 * MIN, POLAND)
    assert clock.status is ClockStatus.PAUSED
    assert clock.due_at is None
    assert clock.consumed == 2 * MIN
    clock = clocks.resume(clock, T0 + 60 * MIN, POLAND)
    assert clock.deadline == T0 + 63 * MIN


def test_stop_in_time_is_met_and_late_is_breached_once() -> None:
    on_the_dot, result = clocks.stop(chat_clock(), T0 + 5 * MIN, POLAND)
    assert on_the_dot.outcome is Outcome.BREACHED  # the deadline instant is already too late
    clock, result = clocks.stop(chat_clock(), T0 + 3 * MIN, POLAND)
    assert result == Met(3 * MIN)
    assert clock.outcome is Outcome.MET
    late, result = clocks.stop(chat_clock(), T0 + 7 * MIN, POLAND)
    assert isinstance(result, Crossed)
    assert result.due == T0 + 5 * MIN
    assert late.outcome is Outcome.BREACHED
    swept, _ = clocks.fire_due(chat_clock(), T0 + 6 * MIN)
    stopped, result = clocks.stop(swept, T0 + 7 * MIN, POLAND)
    assert result is None
    assert stopped.outcome is Outcome.BREACHED
    assert stopped.elapsed == 7 * MIN
    assert clocks.stop(stopped, T0 + 8 * MIN, POLAND) == (stopped, None)


def test_a_clock_started_paused_waits_for_resume() -> None:
    assert CHAT is not None
    clock = clocks.start(
        "c", SlaMetric.NEXT_RESPONSE, CHAT.target, False, CHAT.stages, T0, POLAND, paused=True
    )
    assert clock.due_at is None
    assert clocks.resume(clock, T0 + MIN, POLAND).deadline == T0 + 6 * MIN


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 600)), max_size=12), st.integers(1, 900))
def test_elapsed_time_is_the_sum_of_running_spans(steps: list[tuple[bool, int]], tail: int) -> None:
    clock = chat_clock()
    now, running_total, running = T0, timedelta(0), True
    wall = CALENDAR_TIME
    calendar_clock = clocks.start("w", SlaMetric.FIRST_RESPONSE, 5 * MIN, False, clock.stages, T0, wall)
    for toggle, seconds in steps:
        step = timedelta(seconds=seconds)
        running_total += step if running else timedelta(0)
        now += step
        if toggle and running:
            calendar_clock, _ = clocks.pause(calendar_clock, now, wall)
        elif toggle:
            calendar_clock = clocks.resume(calendar_clock, now, wall)
        running = running != toggle
    now += timedelta(seconds=tail)
    running_total += timedelta(seconds=tail) if running else timedelta(0)
    stopped, result = clocks.stop(calendar_clock, now, wall)
    assert stopped.elapsed == running_total
    assert (stopped.outcome is Outcome.MET) == (running_total < 5 * MIN)
    assert isinstance(result, Met) == (stopped.outcome is Outcome.MET and calendar_clock.outcome is None)


def test_order_promise_deadlines() -> None:
    paid = datetime(2026, 1, 9, 15, 0, tzinfo=UTC)  # Friday 16:00 Warsaw
    assert ship_by_deadline(paid, None, POLAND, 2) == datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
    assert ship_by_deadline(paid, paid + MIN, POLAND, 2) == paid + MIN
    assert end_of_local_day(date(2026, 7, 1), "Europe/Warsaw") == datetime(2026, 7, 1, 22, tzinfo=UTC)
    received = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)  # already Tuesday in Warsaw
    assert repair_deadline(received, 3, "Europe/Warsaw") == datetime(2026, 1, 9, 23, tzinfo=UTC)
    assert settled_status(paid, paid).value == "kept"
    assert settled_status(paid + MIN, paid).value == "breached"
    # a promise is its shop's: two shops' order o1 are two orders
    assert promise_id("shop-a", "o1", PromiseKind.REPAIR_TURNAROUND, "r1") == "shop-a:o1:repair_turnaround:r1"
    assert promise_id("shop-b", "o1", PromiseKind.SHIP_BY) == "shop-b:o1:ship_by"
