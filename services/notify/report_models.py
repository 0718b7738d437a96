"""The delivery report's response body, and its rows as CSV (beside api_models.py, the rest of the
API's bodies)."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, Field

from services.notify.domain.reports import (
    Attempts,
    Deliveries,
    DeliveryReport,
    EndpointHealth,
    LatencyQuantiles,
    TrendPoint,
)

DEFINITIONS = {
    "period": "the deliveries queued in the period (their created_at), with what became of them since; "
    "finished deliveries are kept for NOTIFY_RETENTION_DAYS",
    "pending": "queued, waiting for a retry, or being attempted",
    "succeeded_percent": "percent of the finished deliveries (succeeded or dead) that succeeded",
    "latency": "seconds from the event's time to the receiver's first 2xx (the first successful "
    "attempt's start plus its duration), over the delivered deliveries: p50, p90, p99",
    "breaker": "closed; open (no attempts until its cool-down ends); half_open (one trial attempt)",
}


class InvalidPeriod(BaseModel):
    """`from`/`to` that cannot be read, a period that ends before it starts, or too many buckets."""

    error: Literal["invalid_request"]
    detail: str


class DeliveriesOut(BaseModel):
    succeeded: int
    dead: int
    pending: int
    total: int
    succeeded_percent: float | None

    @classmethod
    def of(cls, d: Deliveries) -> DeliveriesOut:
        return cls(
            succeeded=d.succeeded,
            dead=d.dead,
            pending=d.pending,
            total=d.total,
            succeeded_percent=d.succeeded_percent,
        )


class AttemptsOut(BaseModel):
    total: int
    success_percent: float | None
    by_outcome: dict[str, int]

    @classmethod
    def of(cls, a: Attempts) -> AttemptsOut:
        return cls(total=a.total, success_percent=a.success_percent, by_outcome=a.by_outcome)


class LatencyOut(BaseModel):
    delivered: int
    p50_seconds: float | None
    p90_seconds: float | None
    p99_seconds: float | None

    @classmethod
    def of(cls, q: LatencyQuantiles) -> LatencyOut:
        return cls(delivered=q.delivered, p50_seconds=q.p50, p90_seconds=q.p90, p99_seconds=q.p99)


class EndpointHealthOut(BaseModel):
    endpoint_id: str
    url: str
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    breaker: str
    deliveries: DeliveriesOut
    attempts: AttemptsOut = Field(description="success_percent is the endpoint's attempt success ratio")

    @classmethod
    def of(cls, e: EndpointHealth) -> EndpointHealthOut:
        return cls(
            endpoint_id=e.state.id,
            url=e.state.url,
            enabled=e.state.enabled,
            disabled_reason=e.state.disabled_reason,
            failing_since=e.state.failing_since,
            breaker=e.breaker,
            deliveries=DeliveriesOut.of(e.deliveries),
            attempts=AttemptsOut.of(e.attempts),
        )


class TrendPointOut(BaseModel):
    deliveries: DeliveriesOut
    attempts: AttemptsOut
    latency: LatencyOut

    @classmethod
    def of(cls, t: TrendPoint) -> TrendPointOut:
        return cls(
            deliveries=DeliveriesOut.of(t.deliveries),
            attempts=AttemptsOut.of(t.attempts),
            latency=LatencyOut.of(t.latency),
        )


class DeliveryReportOut(BaseModel):
    shop_id: str
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    definitions: dict[str, str] = Field(default_factory=lambda: dict(DEFINITIONS))
    deliveries: DeliveriesOut
    attempts: AttemptsOut
    latency: LatencyOut
    by_event_type: dict[str, DeliveriesOut]
    endpoints: list[EndpointHealthOut]
    granularity: str | None = None
    trend: dict[date, TrendPointOut] = Field(
        default_factory=dict, description="per day/week/month (its first local day) when asked for"
    )

    @classmethod
    def of(
        cls, shop_id: str, start: datetime, end: datetime, granularity: str | None, r: DeliveryReport
    ) -> DeliveryReportOut:
        return cls(
            shop_id=shop_id,
            start=start,
            end=end,
            deliveries=DeliveriesOut.of(r.deliveries),
            attempts=AttemptsOut.of(r.attempts),
            latency=LatencyOut.of(r.latency),
            by_event_type={k: DeliveriesOut.of(v) for k, v in r.by_event_type.items()},
            endpoints=[EndpointHealthOut.of(e) for e in r.endpoints],
            granularity=granularity,
            trend={k: TrendPointOut.of(v) for k, v in r.trend.items()},
        )

    CSV_COLUMNS: ClassVar[tuple[str, ...]] = (
        "dimension",
        "key",
        "succeeded",
        "dead",
        "pending",
        "total",
        "succeeded_percent",
        "attempts",
        "attempt_success_percent",
        "delivered",
        "latency_p50_seconds",
        "latency_p90_seconds",
        "latency_p99_seconds",
        "enabled",
        "breaker",
    )

    def csv_rows(self) -> list[dict[str, object]]:
        """One row per figure set: overall, each event type, each attempt outcome, each endpoint, each
        trend bucket; a row leaves the columns that do not apply to it empty."""
        rows: list[dict[str, object]] = [
            {"dimension": "overall", "key": "all"}
            | _deliveries(self.deliveries)
            | _attempts(self.attempts)
            | _latency(self.latency)
        ]
        rows += [
            {"dimension": "event_type", "key": k} | _deliveries(v) for k, v in self.by_event_type.items()
        ]
        rows += [
            {"dimension": "attempt_outcome", "key": k, "attempts": n}
            for k, n in self.attempts.by_outcome.items()
        ]
        rows += [
            {"dimension": "endpoint", "key": e.endpoint_id, "enabled": e.enabled, "breaker": e.breaker}
            | _deliveries(e.deliveries)
            | _attempts(e.attempts)
            for e in self.endpoints
        ]
        rows += [
            {"dimension": self.granularity or "trend", "key": k.isoformat()}
            | _deliveries(v.deliveries)
            | _attempts(v.attempts)
            | _latency(v.latency)
            for k, v in self.trend.items()
        ]
        return rows


def _deliveries(d: DeliveriesOut) -> dict[str, object]:
    return d.model_dump()


def _attempts(a: AttemptsOut) -> dict[str, object]:
    return {"attempts": a.total, "attempt_success_percent": a.success_percent}


def _latency(q: LatencyOut) -> dict[str, object]:
    return {
        "delivered": q.delivered,
        "latency_p50_seconds": q.p50_seconds,
        "latency_p90_seconds": q.p90_seconds,
        "latency_p99_seconds": q.p99_seconds,
    }
