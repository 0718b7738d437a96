"""What docs/sla.md says of a clock's `deadline` and stage instants: there while it runs, null when
it is paused, stopped (met or breached) or cancelled (the API shows `Clock.deadline` and `stage_at`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.v1.contacts import Channel
from schemas.v1.sla import SlaMetric
from schemas.v1.tickets import Category, Priority
from services.sla.domain import clocks
from services.sla.domain.calendar import CALENDAR_TIME
from services.sla.domain.clocks import ClockStatus, Outcome
from services.sla.domain.policies import DEFAULT_POLICIES

T0 = datetime(2026, 1, 7, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def running() -> clocks.Clock:
    chat = DEFAULT_POLICIES.resolve(SlaMetric.FIRST_RESPONSE, Priority.NORMAL, Channel.CHAT, Category.OTHER)
    assert chat is not None
    clock = clocks.start("c1", SlaMetric.FIRST_RESPONSE, chat.target, False, chat.stages, T0, CALENDAR_TIME)
    assert clock.status is ClockStatus.RUNNING
    assert clock.deadline == T0 + chat.target
    assert clock.stage_at
    return clock


def test_a_paused_clock_has_no_deadline_until_it_resumes() -> None:
    paused, _ = clocks.pause(running(), T0 + MIN, CALENDAR_TIME)
    assert (paused.status, paused.deadline, paused.stage_at) == (ClockStatus.PAUSED, None, ())
    resumed = clocks.resume(paused, T0 + 10 * MIN, CALENDAR_TIME)
    assert resumed.deadline is not None
    assert resumed.stage_at


def test_a_stopped_clock_has_no_deadline_met_or_breached() -> None:
    met, _ = clocks.stop(running(), T0 + MIN, CALENDAR_TIME)
    breached, _ = clocks.stop(running(), T0 + 60 * MIN, CALENDAR_TIME)
    for clock, outcome in ((met, Outcome.MET), (breached, Outcome.BREACHED)):
        assert (clock.status, clock.outcome, clock.deadline, clock.stage_at) == (
            ClockStatus.STOPPED,
            outcome,
            None,
            (),
        )
        assert clock.stopped_at is not None
    assert breached.breached_at is not None
    assert met.elapsed_at(T0 + 99 * MIN, CALENDAR_TIME) == MIN  # what it had used when it stopped


def test_a_cancelled_clock_has_no_deadline() -> None:
    cancelled = clocks.cancel(running(), T0 + MIN)
    assert (cancelled.status, cancelled.deadline, cancelled.stage_at) == (ClockStatus.CANCELLED, None, ())
