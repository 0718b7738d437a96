"""A shop's webhook delivery report, built from grouped counts without I/O.

Every figure is about the deliveries queued in the period (by their `created_at`): what became of them
(succeeded, dead-lettered, still pending: queued or in flight), their attempts by outcome, and their
latency, from the event's time to the receiver's first 2xx (the first successful attempt's start plus its
duration), whose percentiles come from the database. Per endpoint: those figures, the share of its
attempts that succeeded, and its health now (enabled or disabled and why, the circuit breaker closed,
open or half-open). With a granularity, each figure is also given per bucket of the queueing instant,
every bucket of the period listed, empty ones too; the buckets add up to the totals.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from schemas.reports import percent
from services.notify.domain.breaker import BreakerPolicy, BreakerState

DELIVERY_OUTCOMES = ("succeeded", "dead", "pending")


@dataclass(frozen=True)
class DeliveryCount:
    endpoint_id: str
    event_type: str
    outcome: str
    """succeeded, dead or pending (queued or being attempted)"""
    n: int
    bucket: date | None = None


@dataclass(frozen=True)
class AttemptCount:
    endpoint_id: str
    outcome: str
    n: int
    bucket: date | None = None


@dataclass(frozen=True)
class LatencyQuantiles:
    """Over the deliveries of one group (all when `bucket` is None) that reached a 2xx."""

    bucket: date | None
    delivered: int
    p50: float | None
    p90: float | None
    p99: float | None


NO_LATENCY = LatencyQuantiles(None, 0, None, None, None)


@dataclass(frozen=True)
class EndpointState:
    id: str
    url: str
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    breaker_failures: int
    breaker_open_until: datetime | None


@dataclass(frozen=True)
class Deliveries:
    succeeded: int
    dead: int
    pending: int
    succeeded_percent: float | None
    """Percent of the finished deliveries (succeeded or dead) that succeeded."""

    @property
    def total(self) -> int:
        return self.succeeded + self.dead + self.pending


@dataclass(frozen=True)
class Attempts:
    by_outcome: dict[str, int]
    success_percent: float | None

    @property
    def total(self) -> int:
        return sum(self.by_outcome.values())


@dataclass(frozen=True)
class EndpointHealth:
    state: EndpointState
    breaker: str
    """closed, open (no attempts until its cool-down ends) or half_open (one trial attempt)"""
    deliveries: Deliveries
    attempts: Attempts


@dataclass(frozen=True)
class TrendPoint:
    deliveries: Deliveries
    attempts: Attempts
    latency: LatencyQuantiles


@dataclass(frozen=True)
class DeliveryReport:
    deliveries: Deliveries
    attempts: Attempts
    latency: LatencyQuantiles
    by_event_type: dict[str, Deliveries] = field(default_factory=dict)
    endpoints: list[EndpointHealth] = field(default_factory=list)
    trend: dict[date, TrendPoint] = field(default_factory=dict)


def breaker_state(failures: int, open_until: datetime | None, policy: BreakerPolicy, now: datetime) -> str:
    """The endpoint's circuit breaker as the worker sees it at `now` (domain/breaker.py)."""
    state = BreakerState(failures, open_until)
    if not state.is_tripped(policy):
        return "closed"
    return "open" if open_until is not None and now < open_until else "half_open"


def _deliveries(rows: Iterable[DeliveryCount]) -> Deliveries:
    counts: Counter[str] = Counter()
    for row in rows:
        counts[row.outcome] += row.n
    finished = counts["succeeded"] + counts["dead"]
    return Deliveries(
        counts["succeeded"], counts["dead"], counts["pending"], percent(counts["succeeded"], finished)
    )


def _attempts(rows: Iterable[AttemptCount]) -> Attempts:
    counts: Counter[str] = Counter()
    for row in rows:
        counts[row.outcome] += row.n
    return Attempts(dict(sorted(counts.items())), percent(counts["success"], sum(counts.values())))


def _endpoint(
    state: EndpointState,
    deliveries: list[DeliveryCount],
    attempts: list[AttemptCount],
    policy: BreakerPolicy,
    now: datetime,
) -> EndpointHealth:
    return EndpointHealth(
        state,
        breaker_state(state.breaker_failures, state.breaker_open_until, policy, now),
        _deliveries(r for r in deliveries if r.endpoint_id == state.id),
        _attempts(r for r in attempts if r.endpoint_id == state.id),
    )


def build_report(
    deliveries: list[DeliveryCount],
    attempts: list[AttemptCount],
    latency: list[LatencyQuantiles],
    endpoints: list[EndpointState],
    breaker: BreakerPolicy,
    now: datetime,
    buckets: list[date] | None = None,
) -> DeliveryReport:
    latency_of = {q.bucket: q for q in latency}
    event_types = sorted({r.event_type for r in deliveries})
    return DeliveryReport(
        deliveries=_deliveries(deliveries),
        attempts=_attempts(attempts),
        latency=latency_of.get(None, NO_LATENCY),
        by_event_type={t: _deliveries(r for r in deliveries if r.event_type == t) for t in event_types},
        endpoints=[_endpoint(e, deliveries, attempts, breaker, now) for e in endpoints],
        trend={
            bucket: TrendPoint(
                _deliveries(r for r in deliveries if r.bucket == bucket),
                _attempts(r for r in attempts if r.bucket == bucket),
                latency_of.get(bucket, LatencyQuantiles(bucket, 0, None, None, None)),
            )
            for bucket in buckets or []
        },
    )
