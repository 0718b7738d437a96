"""Turning what a clock or promise did into `sla.events` CloudEvents (and their metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from prometheus_client.metrics import MetricWrapperBase

from runtime.metrics import shop_label
from schemas.envelope import CloudEvent
from schemas.registry import make_event
from schemas.v1.common import TEXT_CHECKED, Customer, EventData
from schemas.v1.sla import (
    OrderPromiseBreached,
    SlaBreached,
    SlaClockChanged,
    SlaEscalated,
    SlaMet,
    SlaWarning,
)
from services.sla import metrics
from services.sla.domain.calendar import Ruler
from services.sla.domain.clocks import Crossed, Met, StageKind
from services.sla.domain.promises import PromiseRecord
from services.sla.repository import ClockRecord

SOURCE = "careloop/sla"
DataT = TypeVar("DataT", bound=EventData)
MetricT = TypeVar("MetricT", bound=MetricWrapperBase)

_NUL_FREE = {TEXT_CHECKED: True}
"""Validation context for data built from clock and promise rows: their text comes from Postgres
(whose text cannot hold NUL) or from events already checked when decoded, so the NUL walk, about half
of an event's cost in the timer sweep, can be skipped. Every other field is still validated."""


@cache
def _series(metric: MetricT, *labels: str) -> MetricT:
    """One labelled series, looked up once: `labels()` takes a lock and checks its arguments on every
    call, and the sweep observes a few metrics for each of thousands of events a second."""
    return metric.labels(*labels)


@dataclass(frozen=True)
class Outgoing:
    """An event to enqueue, and the metric updates to apply once it is committed."""

    event: CloudEvent[Any]
    key: str
    record: ClockRecord | None = None
    crossed: Crossed | None = None
    lag_seconds: float = 0.0
    counted: bool = True
    """False for a clock's change of state, which no metric counts."""

    def observe(self, committed_at: datetime | None = None) -> None:
        """Count the event; `committed_at` (the sweep's commit) gives the true timer lag."""
        if not self.counted:
            return
        lag = self.lag_seconds
        if committed_at is not None and (self.crossed is not None or self.record is None):
            due = self.crossed.due if self.crossed else self.event.data.promised_at
            lag = (committed_at - due).total_seconds()
        if self.record is None:
            data = self.event.data
            _series(metrics.PROMISE_BREACHES, shop_label(data.shop_id), data.promise.value).inc()
            _series(metrics.TIMER_LAG, "promise").observe(max(0.0, lag))
            return
        clock, metric = self.record.clock, self.record.clock.metric.value
        shop = shop_label(self.record.shop_id)
        if self.crossed is None:
            _series(metrics.MET, shop, metric, self.record.policy_id, self.record.channel).inc()
            return
        stage = self.crossed.stage
        _series(metrics.TIMER_LAG, stage.kind.value).observe(max(0.0, lag))
        if stage.kind is StageKind.WARNING:
            _series(metrics.WARNINGS, shop, metric).inc()
        elif stage.kind is StageKind.BREACH:
            _series(metrics.BREACHES, shop, metric, self.record.policy_id, self.record.channel).inc()
            to_breach = (self.crossed.due - clock.started_at).total_seconds()
            _series(metrics.TIME_TO_BREACH, metric).observe(max(0.0, to_breach))
        else:
            _series(metrics.ESCALATIONS, shop, metric, str(stage.level)).inc()


def _clock_fields(record: ClockRecord, deadline: datetime | None, at: datetime) -> dict[str, Any]:
    clock = record.clock
    return {
        "shop_id": record.shop_id,
        "ticket_id": record.ticket_id,
        "clock_id": clock.id,
        "metric": clock.metric,
        "policy_id": record.policy_id,
        "channel": record.channel,
        "category": record.category,
        "priority": record.priority,
        "target_seconds": round(clock.target.total_seconds()),
        "deadline": deadline,
        "business_hours": clock.business_hours,
        "at": at,
    }


def _data(model: type[DataT], fields: dict[str, Any]) -> DataT:
    return model.model_validate(fields, context=_NUL_FREE)


def _stamped(event_type: str, data: EventData, subject: str, now: datetime) -> CloudEvent[Any]:
    return make_event(event_type, SOURCE, data, subject, time=now)


def crossed_event(
    record: ClockRecord, crossed: Crossed, deadline: datetime, at: datetime, now: datetime
) -> Outgoing:
    """`at`: when the crossing was noticed in the ticket's timeline; `now`: when the event goes out."""
    fields = _clock_fields(record, deadline, at)
    stage = crossed.stage
    lag = (now - crossed.due).total_seconds()
    data: SlaWarning | SlaBreached | SlaEscalated
    if stage.kind is StageKind.WARNING:
        event_type, data = "sla.warning", _data(SlaWarning, {**fields, "share_of_target": stage.share})
    elif stage.kind is StageKind.BREACH:
        event_type, data = "sla.breached", _data(SlaBreached, {**fields, "lag_seconds": max(0.0, lag)})
    else:
        event_type = "sla.escalated"
        data = _data(SlaEscalated, {**fields, "level": stage.level, "escalate_to": stage.escalate_to})
    event = _stamped(event_type, data, record.ticket_id, now)
    return Outgoing(event, record.ticket_id, record, crossed, lag)


def met_event(record: ClockRecord, met: Met, deadline: datetime, at: datetime, now: datetime) -> Outgoing:
    fields = _clock_fields(record, deadline, at)
    data = _data(SlaMet, {**fields, "elapsed_seconds": met.elapsed.total_seconds()})
    return Outgoing(_stamped("sla.met", data, record.ticket_id, now), record.ticket_id, record)


def clock_changed_event(record: ClockRecord, at: datetime, now: datetime, calendar: Ruler) -> Outgoing:
    """The clock's state after it started, paused, resumed, stopped or was cancelled at `at`."""
    clock = record.clock
    fields = _clock_fields(record, clock.deadline, at) | {
        "status": clock.status.value,
        "elapsed_seconds": max(0.0, clock.elapsed_at(at, calendar).total_seconds()),
        "outcome": clock.outcome.value if clock.outcome is not None else None,
    }
    event = _stamped("sla.clock_changed", _data(SlaClockChanged, fields), record.ticket_id, now)
    return Outgoing(event, record.ticket_id, record, counted=False)


def promise_breached_event(promise: PromiseRecord, at: datetime, now: datetime) -> Outgoing:
    data = OrderPromiseBreached(
        shop_id=promise.shop_id,
        order_id=promise.order_id,
        customer=Customer.model_validate(promise.customer),
        promise=promise.kind,
        promised_at=promise.promised_at,
        at=at,
        repair_id=promise.repair_id,
    )
    lag = (now - promise.promised_at).total_seconds()
    return Outgoing(
        _stamped("order.promise_breached", data, promise.order_id, now), promise.order_id, lag_seconds=lag
    )
