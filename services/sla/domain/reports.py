"""A shop's SLA report, built from grouped counts without I/O.

Every figure is about what was *decided* in the period: a clock counts when its outcome was decided
(met when it stopped in time, breached at its breach instant), a promise when it was kept (fulfilled in
time) or broken (its breach instant). Time to breach is the wall time from a clock's start to its breach
(pauses and closed hours included, as `careloop_sla_time_to_breach_seconds` measures it); its
percentiles come from the database, keyed by what they summarise. Escalations are those the clocks
breached in the period reached (so far), by level. With a granularity, each figure is also given per
bucket of the instant it was decided, every bucket of the period listed, empty ones too; the buckets
add up to the totals.

`compliance_by_label` is the compliance gauge's arithmetic: shops sharing a metric label (past the
label's budget) are summed before the ratio is taken, never averaged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

from schemas.reports import percent

OVERALL = "overall"
METRIC = "metric"
POLICY = "policy"
BUCKET = "bucket"
"""The dimensions a time-to-breach percentile row can summarise."""


@dataclass(frozen=True)
class ClockCount:
    metric: str
    policy: str
    outcome: str
    """met or breached"""
    n: int
    bucket: date | None = None


@dataclass(frozen=True)
class BreachQuantiles:
    """Time-to-breach percentiles (seconds) over the breached clocks of one group."""

    dimension: str
    key: str | date | None
    p50: float | None
    p90: float | None


@dataclass(frozen=True)
class EscalationCount:
    level: int
    n: int
    bucket: date | None = None


@dataclass(frozen=True)
class PromiseCount:
    kind: str
    status: str
    """kept or breached"""
    n: int
    bucket: date | None = None


@dataclass(frozen=True)
class Compliance:
    met: int
    breached: int
    compliance_percent: float | None
    """Percent of the decided targets met; None when none was decided."""
    time_to_breach_p50_seconds: float | None = None
    time_to_breach_p90_seconds: float | None = None

    @property
    def decided(self) -> int:
        return self.met + self.breached


@dataclass(frozen=True)
class Promises:
    kept: int
    broken: int
    kept_percent: float | None


@dataclass(frozen=True)
class TrendPoint:
    clocks: Compliance
    escalations: int
    promises: Promises


@dataclass(frozen=True)
class SlaReport:
    overall: Compliance
    by_metric: dict[str, Compliance] = field(default_factory=dict)
    by_policy: dict[str, Compliance] = field(default_factory=dict)
    escalations_by_level: dict[int, int] = field(default_factory=dict)
    promises: Promises = field(default_factory=lambda: Promises(0, 0, None))
    promises_by_kind: dict[str, Promises] = field(default_factory=dict)
    trend: dict[date, TrendPoint] = field(default_factory=dict)

    @property
    def escalations(self) -> int:
        return sum(self.escalations_by_level.values())


QuantileKey = tuple[str, str | date | None]
R = TypeVar("R")


def _compliance(rows: Iterable[ClockCount], quantiles: BreachQuantiles | None) -> Compliance:
    met = breached = 0
    for row in rows:
        if row.outcome == "met":
            met += row.n
        else:
            breached += row.n
    return Compliance(
        met,
        breached,
        percent(met, met + breached),
        quantiles.p50 if quantiles else None,
        quantiles.p90 if quantiles else None,
    )


def _promises(rows: Iterable[PromiseCount]) -> Promises:
    kept = sum(r.n for r in rows if r.status == "kept")
    broken = sum(r.n for r in rows if r.status != "kept")
    return Promises(kept, broken, percent(kept, kept + broken))


def _by(rows: list[R], key: Callable[[R], str]) -> dict[str, list[R]]:
    grouped: dict[str, list[R]] = defaultdict(list)
    for row in rows:
        grouped[key(row)].append(row)
    return dict(sorted(grouped.items()))


def build_report(
    clocks: list[ClockCount],
    quantiles: list[BreachQuantiles],
    escalations: list[EscalationCount],
    promises: list[PromiseCount],
    buckets: list[date] | None = None,
) -> SlaReport:
    q: dict[QuantileKey, BreachQuantiles] = {(r.dimension, r.key): r for r in quantiles}
    by_level: dict[int, int] = defaultdict(int)
    for e in escalations:
        by_level[e.level] += e.n
    return SlaReport(
        overall=_compliance(clocks, q.get((OVERALL, None))),
        by_metric={
            k: _compliance(rows, q.get((METRIC, k))) for k, rows in _by(clocks, lambda r: r.metric).items()
        },
        by_policy={
            k: _compliance(rows, q.get((POLICY, k))) for k, rows in _by(clocks, lambda r: r.policy).items()
        },
        escalations_by_level=dict(sorted(by_level.items())),
        promises=_promises(promises),
        promises_by_kind={k: _promises(rows) for k, rows in _by(promises, lambda r: r.kind).items()},
        trend={
            bucket: TrendPoint(
                _compliance([r for r in clocks if r.bucket == bucket], q.get((BUCKET, bucket))),
                sum(e.n for e in escalations if e.bucket == bucket),
                _promises([r for r in promises if r.bucket == bucket]),
            )
            for bucket in buckets or []
        },
    )


@dataclass(frozen=True)
class Finished:
    """One shop's targets decided (met or breached) for one metric, and how many were met."""

    shop_id: str
    metric: str
    met: int
    decided: int


def compliance_by_label(
    rows: Iterable[Finished], label: Callable[[str], str]
) -> dict[tuple[str, str], float]:
    """(shop label, metric) → share of decided targets met, the shops under one label summed first."""
    met: dict[tuple[str, str], int] = defaultdict(int)
    decided: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        key = (label(row.shop_id), row.metric)
        met[key] += row.met
        decided[key] += row.decided
    return {key: met[key] / n for key, n in decided.items() if n > 0}
