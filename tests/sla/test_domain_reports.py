"""The SLA report from grouped counts (pure): figures by hand, the trend and every breakdown adding up
to the totals, and the compliance gauge summing shops that share a label before taking the ratio."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from schemas.reports import percent
from services.sla.domain.reports import (
    BUCKET,
    METRIC,
    OVERALL,
    POLICY,
    BreachQuantiles,
    ClockCount,
    EscalationCount,
    Finished,
    PromiseCount,
    build_report,
    compliance_by_label,
)

D1 = date(2026, 3, 2)
D2 = date(2026, 3, 3)


def test_figures_by_hand() -> None:
    clocks = [
        ClockCount("first_response", "chat", "met", 3, D1),
        ClockCount("first_response", "chat", "breached", 1, D2),
        ClockCount("resolution", "normal-resolution", "met", 1, D1),
        ClockCount("resolution", "normal-resolution", "breached", 3, D2),
    ]
    quantiles = [
        BreachQuantiles(OVERALL, None, 600.0, 900.0),
        BreachQuantiles(METRIC, "resolution", 700.0, 950.0),
        BreachQuantiles(POLICY, "chat", 300.0, 300.0),
        BreachQuantiles(BUCKET, D2, 600.0, 900.0),
    ]
    escalations = [EscalationCount(1, 3, D2), EscalationCount(2, 1, D2)]
    promises = [
        PromiseCount("ship_by", "kept", 2, D1),
        PromiseCount("ship_by", "breached", 1, D2),
        PromiseCount("delivery_date", "kept", 1, D2),
    ]
    report = build_report(clocks, quantiles, escalations, promises, [D1, D2])

    assert (report.overall.met, report.overall.breached, report.overall.decided) == (4, 4, 8)
    assert report.overall.compliance_percent == 50.0
    assert (report.overall.time_to_breach_p50_seconds, report.overall.time_to_breach_p90_seconds) == (
        600,
        900,
    )
    assert report.by_metric["first_response"].compliance_percent == 75.0
    assert report.by_metric["first_response"].time_to_breach_p50_seconds is None  # no row for it
    assert report.by_metric["resolution"].time_to_breach_p90_seconds == 950.0
    assert report.by_policy["chat"].time_to_breach_p50_seconds == 300.0
    assert report.by_policy["normal-resolution"].compliance_percent == 25.0
    assert report.escalations_by_level == {1: 3, 2: 1}
    assert report.escalations == 4
    assert (report.promises.kept, report.promises.broken, report.promises.kept_percent) == (3, 1, 75.0)
    assert report.promises_by_kind["ship_by"].kept_percent == 66.67
    assert report.promises_by_kind["delivery_date"].kept_percent == 100.0
    assert list(report.trend) == [D1, D2]
    assert report.trend[D1].clocks.compliance_percent == 100.0
    assert report.trend[D1].escalations == 0
    assert report.trend[D2].clocks.time_to_breach_p50_seconds == 600.0
    assert report.trend[D2].promises.broken == 1


def test_an_empty_period_has_no_ratios() -> None:
    report = build_report([], [], [], [], [D1])
    assert report.overall.compliance_percent is None
    assert report.promises.kept_percent is None
    assert report.by_metric == {}
    assert report.by_policy == {}
    assert report.trend[D1].clocks.decided == 0


def test_without_a_granularity_there_is_no_trend() -> None:
    report = build_report([ClockCount("resolution", "p", "met", 2)], [], [], [])
    assert report.trend == {}
    assert report.overall.met == 2


days = st.integers(min_value=0, max_value=6).map(lambda n: D1 + timedelta(days=n))
clock_rows = st.builds(
    ClockCount,
    metric=st.sampled_from(["first_response", "next_response", "resolution"]),
    policy=st.sampled_from(["chat", "email", "urgent-resolution"]),
    outcome=st.sampled_from(["met", "breached"]),
    n=st.integers(min_value=1, max_value=50),
    bucket=days,
)
escalation_rows = st.builds(
    EscalationCount, level=st.integers(min_value=1, max_value=3), n=st.integers(1, 20), bucket=days
)
promise_rows = st.builds(
    PromiseCount,
    kind=st.sampled_from(["ship_by", "delivery_date", "repair_turnaround"]),
    status=st.sampled_from(["kept", "breached"]),
    n=st.integers(min_value=1, max_value=20),
    bucket=days,
)


@given(st.lists(clock_rows), st.lists(escalation_rows), st.lists(promise_rows))
def test_the_trend_and_the_breakdowns_add_up_to_the_totals(
    clocks: list[ClockCount], escalations: list[EscalationCount], promises: list[PromiseCount]
) -> None:
    buckets = [D1 + timedelta(days=n) for n in range(7)]
    report = build_report(clocks, [], escalations, promises, buckets)
    total = report.overall
    assert total.met == sum(r.n for r in clocks if r.outcome == "met")
    assert total.breached == sum(r.n for r in clocks if r.outcome == "breached")
    for parts in (
        report.by_metric.values(),
        report.by_policy.values(),
        [t.clocks for t in report.trend.values()],
    ):
        assert sum(p.met for p in parts) == total.met
        assert sum(p.breached for p in parts) == total.breached
    assert sum(t.escalations for t in report.trend.values()) == report.escalations
    assert report.escalations == sum(e.n for e in escalations)
    for promise_parts in (report.promises_by_kind.values(), [t.promises for t in report.trend.values()]):
        assert sum(p.kept for p in promise_parts) == report.promises.kept
        assert sum(p.broken for p in promise_parts) == report.promises.broken
    assert list(report.trend) == buckets
    if total.decided:
        assert total.compliance_percent == percent(total.met, total.decided)
        assert 0.0 <= (total.compliance_percent or 0.0) <= 100.0


def test_shops_under_one_label_are_summed_before_the_ratio() -> None:
    rows = [
        Finished("big", "first_response", 90, 100),
        Finished("small-1", "first_response", 0, 1),
        Finished("small-2", "first_response", 9, 9),
        Finished("small-2", "resolution", 0, 0),
    ]
    label = {"big": "big"}.get
    ratios = compliance_by_label(rows, lambda shop: label(shop) or "(other)")
    assert ratios == {("big", "first_response"): 0.9, ("(other)", "first_response"): 0.9}
