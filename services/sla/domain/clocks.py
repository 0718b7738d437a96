"""One SLA clock: a target of elapsed (calendar or business) time that runs, pauses and stops.

A clock crosses *stages* as its elapsed time grows: the warning (e.g. 80% of the target), the breach
(100%) and escalation levels (e.g. 100% and 200%). While it runs, the instant of every remaining stage
is known in advance (`stage_at`), so the timer sweep needs neither the calendar nor the policy: it only
compares those instants with now. Pausing banks the elapsed time; resuming schedules the rest again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from schemas.v1.sla import SlaMetric
from services.sla.domain.calendar import CALENDAR_TIME, Ruler


class StageKind(StrEnum):
    WARNING = "warning"
    BREACH = "breach"
    ESCALATION = "escalation"


_KIND_ORDER = {StageKind.WARNING: 0, StageKind.BREACH: 1, StageKind.ESCALATION: 2}


@dataclass(frozen=True)
class Stage:
    kind: StageKind
    share: float
    """Of the target: the stage is reached when elapsed >= share * target."""
    level: int = 0
    escalate_to: str = ""

    def threshold(self, target: timedelta) -> timedelta:
        return timedelta(microseconds=round(target / timedelta(microseconds=1) * self.share))

    def order_key(self) -> tuple[float, int, int]:
        return (self.share, _KIND_ORDER[self.kind], self.level)


class ClockStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    CANCELLED = "cancelled"


class Outcome(StrEnum):
    MET = "met"
    BREACHED = "breached"


ACTIVE = (ClockStatus.RUNNING, ClockStatus.PAUSED)


@dataclass(frozen=True)
class Crossed:
    """A stage the clock reached; `due` is the instant it was reached."""

    stage: Stage
    due: datetime


@dataclass(frozen=True)
class Met:
    elapsed: timedelta


@dataclass(frozen=True)
class Clock:
    id: str
    metric: SlaMetric
    target: timedelta
    business_hours: bool
    stages: tuple[Stage, ...]
    status: ClockStatus
    started_at: datetime
    running_since: datetime | None
    consumed: timedelta
    """Elapsed time banked before the current running span (it grows at each pause)."""
    stages_done: int = 0
    stage_at: tuple[datetime, ...] = ()
    """While running: the instant of every stage, index-aligned with `stages`."""
    outcome: Outcome | None = None
    breached_at: datetime | None = None
    stopped_at: datetime | None = None
    elapsed: timedelta | None = None
    """Final elapsed time, set when the clock stops."""

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def due_at(self) -> datetime | None:
        if self.status is ClockStatus.RUNNING and self.stages_done < len(self.stage_at):
            return self.stage_at[self.stages_done]
        return None

    @property
    def deadline(self) -> datetime | None:
        """When the target is (or was) breached, while running."""
        if self.status is not ClockStatus.RUNNING:
            return None
        for stage, at in zip(self.stages, self.stage_at, strict=True):
            if stage.kind is StageKind.BREACH:
                return at
        return None

    def ruler(self, calendar: Ruler) -> Ruler:
        return calendar if self.business_hours else CALENDAR_TIME

    def elapsed_at(self, at: datetime, calendar: Ruler) -> timedelta:
        if self.elapsed is not None:
            return self.elapsed
        if self.running_since is None:
            return self.consumed
        return self.consumed + self.ruler(calendar).measure(self.running_since, at)

    def projected_deadline(self, at: datetime, calendar: Ruler) -> datetime:
        """The breach instant if the clock ran from `at` on (its deadline if running)."""
        if self.deadline is not None:
            return self.deadline
        return self.ruler(calendar).add(at, self.target - self.elapsed_at(at, calendar))


def start(
    clock_id: str,
    metric: SlaMetric,
    target: timedelta,
    business_hours: bool,
    stages: tuple[Stage, ...],
    at: datetime,
    calendar: Ruler,
    *,
    paused: bool = False,
) -> Clock:
    clock = Clock(
        id=clock_id,
        metric=metric,
        target=target,
        business_hours=business_hours,
        stages=stages,
        status=ClockStatus.PAUSED,
        started_at=at,
        running_since=None,
        consumed=timedelta(0),
    )
    return clock if paused else resume(clock, at, calendar)


def _schedule(clock: Clock, calendar: Ruler) -> tuple[datetime, ...]:
    assert clock.running_since is not None
    ruler = clock.ruler(calendar)
    return tuple(
        ruler.add(clock.running_since, stage.threshold(clock.target) - clock.consumed)
        for stage in clock.stages
    )


def fire_due(clock: Clock, now: datetime) -> tuple[Clock, list[Crossed]]:
    """Cross every stage due at `now` (in order); the clock keeps running."""
    if clock.status is not ClockStatus.RUNNING:
        return clock, []
    crossed = []
    done = clock.stages_done
    while done < len(clock.stage_at) and clock.stage_at[done] <= now:
        crossed.append(Crossed(clock.stages[done], clock.stage_at[done]))
        done += 1
    if not crossed:
        return clock, crossed
    # One `replace` for all the changes: the sweep calls this for every due timer, and each copy of
    # the clock costs more than the rest of the function.
    breach = next((item for item in crossed if item.stage.kind is StageKind.BREACH), None)
    if breach is None:
        return replace(clock, stages_done=done), crossed
    return replace(clock, stages_done=done, outcome=Outcome.BREACHED, breached_at=breach.due), crossed


def pause(clock: Clock, at: datetime, calendar: Ruler) -> tuple[Clock, list[Crossed]]:
    """Bank the elapsed time; stages already due at `at` are crossed first."""
    if clock.status is not ClockStatus.RUNNING:
        return clock, []
    clock, crossed = fire_due(clock, at)
    paused = replace(
        clock,
        status=ClockStatus.PAUSED,
        consumed=clock.elapsed_at(at, calendar),
        running_since=None,
        stage_at=(),
    )
    return paused, crossed


def resume(clock: Clock, at: datetime, calendar: Ruler) -> Clock:
    if clock.status is not ClockStatus.PAUSED:
        return clock
    running = replace(clock, status=ClockStatus.RUNNING, running_since=at)
    return replace(running, stage_at=_schedule(running, calendar))


def stop(clock: Clock, at: datetime, calendar: Ruler) -> tuple[Clock, Met | Crossed | None]:
    """The target was answered or the ticket solved: met, breached now (late), or already breached."""
    if not clock.active:
        return clock, None
    elapsed = clock.elapsed_at(at, calendar)
    result: Met | Crossed | None = None
    outcome, breached_at = clock.outcome, clock.breached_at
    # The deadline instant itself is too late, exactly as for the sweep (due_at <= now fires).
    if outcome is None and elapsed >= clock.target:
        breach = next(s for s in clock.stages if s.kind is StageKind.BREACH)
        breached_at = clock.projected_deadline(at, calendar) if clock.running_since else at
        result, outcome = Crossed(breach, breached_at), Outcome.BREACHED
    elif outcome is None:
        result, outcome = Met(elapsed), Outcome.MET
    stopped = replace(
        clock,
        status=ClockStatus.STOPPED,
        outcome=outcome,
        breached_at=breached_at,
        stopped_at=at,
        elapsed=elapsed,
        running_since=None,
        stage_at=(),
    )
    return stopped, result


def cancel(clock: Clock, at: datetime) -> Clock:
    """The ticket went away (merged): no outcome is recorded."""
    if not clock.active:
        return clock
    return replace(clock, status=ClockStatus.CANCELLED, stopped_at=at, running_since=None, stage_at=())
