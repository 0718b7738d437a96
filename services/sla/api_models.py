"""The SLA report's response body, and its rows as CSV."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

from pydantic import BaseModel, Field

from services.sla.domain.reports import Compliance, Promises, SlaReport, TrendPoint

DEFINITIONS = {
    "decided": "a clock counts in the period its outcome was decided in: at its breach instant when "
    "breached, at its stop when met; a promise when it was kept (fulfilled in time) or broken",
    "compliance_percent": "percent of the targets decided in the period that were met",
    "time_to_breach": "wall time from a breached clock's start to its breach instant (pauses and "
    "closed hours included), p50 and p90 in seconds",
    "escalations": "escalation levels reached so far by the clocks breached in the period",
    "kept_percent": "percent of the promises decided in the period that were kept",
}


class ComplianceOut(BaseModel):
    met: int
    breached: int
    compliance_percent: float | None
    time_to_breach_p50_seconds: float | None
    time_to_breach_p90_seconds: float | None

    @classmethod
    def of(cls, c: Compliance) -> ComplianceOut:
        return cls(
            met=c.met,
            breached=c.breached,
            compliance_percent=c.compliance_percent,
            time_to_breach_p50_seconds=c.time_to_breach_p50_seconds,
            time_to_breach_p90_seconds=c.time_to_breach_p90_seconds,
        )


class PromisesOut(BaseModel):
    kept: int
    broken: int
    kept_percent: float | None

    @classmethod
    def of(cls, p: Promises) -> PromisesOut:
        return cls(kept=p.kept, broken=p.broken, kept_percent=p.kept_percent)


class TrendPointOut(BaseModel):
    clocks: ComplianceOut
    escalations: int
    promises: PromisesOut

    @classmethod
    def of(cls, t: TrendPoint) -> TrendPointOut:
        return cls(
            clocks=ComplianceOut.of(t.clocks), escalations=t.escalations, promises=PromisesOut.of(t.promises)
        )


class EscalationsOut(BaseModel):
    total: int
    by_level: dict[int, int]


class PromisesReportOut(PromisesOut):
    by_kind: dict[str, PromisesOut]


class SlaReportOut(BaseModel):
    shop_id: str
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    definitions: dict[str, str] = Field(default_factory=lambda: dict(DEFINITIONS))
    overall: ComplianceOut
    by_metric: dict[str, ComplianceOut]
    by_policy: dict[str, ComplianceOut] = Field(description="a policy's targets of every metric")
    escalations: EscalationsOut
    promises: PromisesReportOut
    granularity: str | None = None
    trend: dict[date, TrendPointOut] = Field(
        default_factory=dict, description="per day/week/month (its first local day) when asked for"
    )

    @classmethod
    def of(
        cls, shop_id: str, start: datetime, end: datetime, granularity: str | None, r: SlaReport
    ) -> SlaReportOut:
        return cls(
            shop_id=shop_id,
            start=start,
            end=end,
            overall=ComplianceOut.of(r.overall),
            by_metric={k: ComplianceOut.of(v) for k, v in r.by_metric.items()},
            by_policy={k: ComplianceOut.of(v) for k, v in r.by_policy.items()},
            escalations=EscalationsOut(total=r.escalations, by_level=r.escalations_by_level),
            promises=PromisesReportOut(
                **PromisesOut.of(r.promises).model_dump(),
                by_kind={k: PromisesOut.of(v) for k, v in r.promises_by_kind.items()},
            ),
            granularity=granularity,
            trend={k: TrendPointOut.of(v) for k, v in r.trend.items()},
        )

    CSV_COLUMNS: ClassVar[tuple[str, ...]] = (
        "dimension",
        "key",
        "met",
        "breached",
        "compliance_percent",
        "time_to_breach_p50_seconds",
        "time_to_breach_p90_seconds",
        "escalations",
        "promises_kept",
        "promises_broken",
        "promises_kept_percent",
    )

    def csv_rows(self) -> list[dict[str, object]]:
        """One row per figure set: overall, each metric, each policy, each escalation level, each
        promise kind, each trend bucket; a row leaves the columns that do not apply to it empty."""
        rows: list[dict[str, object]] = [
            {
                "dimension": "overall",
                "key": "all",
                **self.overall.model_dump(),
                "escalations": self.escalations.total,
            }
            | _promise_cells(self.promises)
        ]
        rows += [{"dimension": "metric", "key": k, **v.model_dump()} for k, v in self.by_metric.items()]
        rows += [{"dimension": "policy", "key": k, **v.model_dump()} for k, v in self.by_policy.items()]
        rows += [
            {"dimension": "escalation_level", "key": level, "escalations": n}
            for level, n in self.escalations.by_level.items()
        ]
        rows += [
            {"dimension": "promise_kind", "key": k} | _promise_cells(v)
            for k, v in self.promises.by_kind.items()
        ]
        rows += [
            {"dimension": self.granularity or "trend", "key": k.isoformat(), **v.clocks.model_dump()}
            | {"escalations": v.escalations}
            | _promise_cells(v.promises)
            for k, v in self.trend.items()
        ]
        return rows


def _promise_cells(p: PromisesOut) -> dict[str, object]:
    return {"promises_kept": p.kept, "promises_broken": p.broken, "promises_kept_percent": p.kept_percent}
