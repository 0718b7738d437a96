"""The delivery report from grouped counts (pure): figures by hand, the breaker as the worker sees it,
and the trend, the endpoints and the event types adding up to the totals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.notify.domain.breaker import BreakerPolicy
from services.notify.domain.reports import (
    AttemptCount,
    DeliveryCount,
    EndpointState,
    LatencyQuantiles,
    breaker_state,
    build_report,
)

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
POLICY = BreakerPolicy(threshold=5, cooldown=timedelta(seconds=30))
D1, D2 = date(2026, 3, 2), date(2026, 3, 3)


def endpoint(
    eid: str, failures: int = 0, open_until: datetime | None = None, enabled: bool = True
) -> EndpointState:
    return EndpointState(
        eid, f"https://example.com/{eid}", enabled, None if enabled else "gone", None, failures, open_until
    )


def test_the_breaker_is_closed_below_the_threshold_open_in_its_cool_down_then_half_open() -> None:
    assert breaker_state(4, None, POLICY, NOW) == "closed"
    assert breaker_state(5, NOW + timedelta(seconds=1), POLICY, NOW) == "open"
    assert breaker_state(5, NOW, POLICY, NOW) == "half_open"
    assert breaker_state(7, None, POLICY, NOW) == "half_open"


def test_figures_by_hand() -> None:
    deliveries = [
        DeliveryCount("e1", "order.paid", "succeeded", 6, D1),
        DeliveryCount("e1", "order.shipped", "dead", 2, D2),
        DeliveryCount("e2", "order.paid", "pending", 1, D2),
        DeliveryCount("e2", "order.paid", "succeeded", 2, D2),
    ]
    attempts = [
        AttemptCount("e1", "success", 6, D1),
        AttemptCount("e1", "http_error", 8, D2),
        AttemptCount("e2", "timeout", 3, D2),
        AttemptCount("e2", "success", 2, D2),
    ]
    latency = [LatencyQuantiles(None, 8, 1.5, 3.0, 4.0), LatencyQuantiles(D1, 6, 1.0, 2.0, 2.0)]
    endpoints = [
        endpoint("e1", 8, NOW + timedelta(seconds=10)),
        endpoint("e2", enabled=False),
        endpoint("e3"),
    ]
    report = build_report(deliveries, attempts, latency, endpoints, POLICY, NOW, [D1, D2])

    d = report.deliveries
    assert (d.succeeded, d.dead, d.pending, d.total, d.succeeded_percent) == (8, 2, 1, 11, 80.0)
    assert report.attempts.by_outcome == {"http_error": 8, "success": 8, "timeout": 3}
    assert report.attempts.total == 19
    assert report.attempts.success_percent == 42.11
    assert (report.latency.delivered, report.latency.p50, report.latency.p99) == (8, 1.5, 4.0)
    assert report.by_event_type["order.paid"].succeeded == 8
    assert report.by_event_type["order.shipped"].succeeded_percent == 0.0
    e1, e2, e3 = report.endpoints
    assert (e1.breaker, e1.deliveries.total, e1.attempts.success_percent) == ("open", 8, 42.86)
    assert (e2.breaker, e2.state.enabled, e2.attempts.success_percent) == ("closed", False, 40.0)
    assert (e3.deliveries.total, e3.attempts.success_percent) == (0, None)  # no deliveries in the period
    assert report.trend[D1].latency.p90 == 2.0
    assert report.trend[D2].latency.delivered == 0  # no row for it: nothing delivered that day
    assert report.trend[D2].deliveries.pending == 1


def test_nothing_queued_gives_no_ratios() -> None:
    report = build_report([], [], [], [endpoint("e1")], POLICY, NOW)
    assert report.deliveries.succeeded_percent is None
    assert report.attempts.success_percent is None
    assert report.latency.p50 is None
    assert report.trend == {}


days = st.integers(min_value=0, max_value=4).map(lambda n: D1 + timedelta(days=n))
endpoint_ids = st.sampled_from(["e1", "e2", "e3"])
delivery_rows = st.builds(
    DeliveryCount,
    endpoint_id=endpoint_ids,
    event_type=st.sampled_from(["order.paid", "order.shipped", "sla.breached"]),
    outcome=st.sampled_from(["succeeded", "dead", "pending"]),
    n=st.integers(min_value=1, max_value=30),
    bucket=days,
)
attempt_rows = st.builds(
    AttemptCount,
    endpoint_id=endpoint_ids,
    outcome=st.sampled_from(["success", "http_error", "timeout", "gone"]),
    n=st.integers(min_value=1, max_value=30),
    bucket=days,
)


@given(st.lists(delivery_rows), st.lists(attempt_rows))
def test_the_trend_endpoints_and_event_types_add_up_to_the_totals(
    deliveries: list[DeliveryCount], attempts: list[AttemptCount]
) -> None:
    buckets = [D1 + timedelta(days=n) for n in range(5)]
    endpoints = [endpoint("e1"), endpoint("e2"), endpoint("e3")]
    report = build_report(deliveries, attempts, [], endpoints, POLICY, NOW, buckets)
    total = report.deliveries
    assert total.total == sum(r.n for r in deliveries)
    for parts in (
        [t.deliveries for t in report.trend.values()],
        [e.deliveries for e in report.endpoints],
        list(report.by_event_type.values()),
    ):
        for outcome in ("succeeded", "dead", "pending"):
            assert sum(getattr(p, outcome) for p in parts) == getattr(total, outcome)
    for attempt_parts in (
        [t.attempts for t in report.trend.values()],
        [e.attempts for e in report.endpoints],
    ):
        assert sum(p.total for p in attempt_parts) == report.attempts.total
        assert sum(p.by_outcome.get("success", 0) for p in attempt_parts) == report.attempts.by_outcome.get(
            "success", 0
        )
    assert list(report.trend) == buckets
