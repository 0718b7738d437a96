"""Turning what a clock or promise did into `sla.events` CloudEvents (and their metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.envelope import CloudEvent
from schemas.registry import make_event
from schemas.v1.common import Customer
from schemas.v1.sla import OrderPromiseBreached, SlaBreached, SlaEscalated, SlaMet, SlaWarning
from services.sla import metrics
from services.sla.domain.clocks import Crossed, Met, StageKind
from services.sla.repository import ClockRecord, PromiseRecord

SOURCE = "careloop/sla"


@dataclass(frozen=True)
class Outgoing:
    """An event to enqueue, and the metric updates to apply once it is committed."""

    event: CloudEvent[Any]
    key: str
    record: ClockRecord | None = None
    crossed: Crossed | None = None
    lag_seconds: float = 0.0

    def observe(self, committed_at: datetime | None = None) -> None:
        """Count the event; `committed_at` (the sweep's commit) gives the true timer lag."""
        lag = self.lag_seconds
        if committed_at is not None and (self.crossed is not None or self.record is None):
            due = self.crossed.due if self.crossed else self.event.data.promised_at
            lag = (committed_at - due).total_seconds()
        if self.record is None:
            metrics.PROMISE_BREACHES.labels(self.event.data.promise.value).inc()
            metrics.TIMER_LAG.labels("promise").observe(max(0.0, lag))
            return
        clock, metric = self.record.clock, self.record.clock.metric.value
        if self.crossed is None:
            metrics.MET.labels(metric, self.record.policy_id, self.record.channel).inc()
            return
        stage = self.crossed.stage
        metrics.TIMER_LAG.labels(stage.kind.value).observe(max(0.0, lag))
        if stage.kind is StageKind.WARNING:
            metrics.WARNINGS.labels(metric).inc()
        elif stage.kind is StageKind.BREACH:
            metrics.BREACHES.labels(metric, self.record.policy_id, self.record.channel).inc()
            to_breach = (self.crossed.due - clock.started_at).total_seconds()
            metrics.TIME_TO_BREACH.labels(metric).observe(max(0.0, to_breach))
        else:
            metrics.ESCALATIONS.labels(metric, str(stage.level)).inc()


def _clock_fields(record: ClockRecord, deadline: datetime) -> dict[str, Any]:
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
    }


def _stamped(event_type: str, data: Any, subject: str, now: datetime) -> CloudEvent[Any]:
    # The envelope's time is domain time, so accelerated demos and manual-clock tests read coherently.
    return make_event(event_type, SOURCE, data, subject=subject).model_copy(update={"time": now})


def crossed_event(
    record: ClockRecord, crossed: Crossed, deadline: datetime, at: datetime, now: datetime
) -> Outgoing:
    """`at`: when the crossing was noticed in the ticket's timeline; `now`: when the event goes out."""
    fields = _clock_fields(record, deadline)
    stage = crossed.stage
    lag = (now - crossed.due).total_seconds()
    data: SlaWarning | SlaBreached | SlaEscalated
    if stage.kind is StageKind.WARNING:
        event_type, data = "sla.warning", SlaWarning(**fields, at=at, share_of_target=stage.share)
    elif stage.kind is StageKind.BREACH:
        event_type, data = "sla.breached", SlaBreached(**fields, at=at, lag_seconds=max(0.0, lag))
    else:
        event_type = "sla.escalated"
        data = SlaEscalated(**fields, at=at, level=stage.level, escalate_to=stage.escalate_to)
    event = _stamped(event_type, data, record.ticket_id, now)
    return Outgoing(event, record.ticket_id, record, crossed, lag)


def met_event(record: ClockRecord, met: Met, deadline: datetime, at: datetime, now: datetime) -> Outgoing:
    data = SlaMet(**_clock_fields(record, deadline), at=at, elapsed_seconds=met.elapsed.total_seconds())
    return Outgoing(_stamped("sla.met", data, record.ticket_id, now), record.ticket_id, record)


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
