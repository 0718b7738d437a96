"""The newer scenarios' own logic, without infrastructure: the 2x-overload run and its figures, one
against two notify processes, the contact rate at the shop's size, the prefill's layout, and the
README's generated region."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.common import MissingScript, summarize
from bench.e2e_scenario import OVERLOAD_FIGURES, set_overload, set_scale
from bench.intake_prefill import Prefill
from bench.intake_size import run_order, set_figures
from bench.plan import QUICK
from bench.report import README_END, README_START, Report, with_readme_section
from bench.run import Bench
from bench.scale_out import counter, group_members


def delivery(
    rate: float, p50: float, p99: float, *, events: int = 1000, undelivered: int = 0
) -> dict[str, Any]:
    """A bench/webhooks.py or pipeline document with the fields the figures read."""
    return {
        "events": events,
        "achieved_publish_rate_per_second": 1990.0,
        "delivered": events - undelivered,
        "undelivered": undelivered,
        "seconds_first_publish_to_last_delivery": 12.5,
        "deliveries_per_second": rate,
        "event_to_delivery_latency_ms": {"p50": p50, "p95": p99, "p99": p99},
        "receiver": {"cpu_share_of_one_core": 0.03},
    }


def figures(report: Report) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in report.to_json()["figures"]}


# -- overload ----------------------------------------------------------------------------------------


def test_overload_throughput_is_a_share_of_the_max_rate_and_90_percent_is_no_collapse() -> None:
    report = Report()
    set_overload(report, 1000.0, delivery(950.0, 6000.0, 12_000.0), delivery(1900.0, 200.0, 400.0))
    found = figures(report)
    throughput = found["e2e.overload_per_s"]
    assert throughput["value"]["median"] == 950.0
    assert throughput["ceiling_value"]["median"] == 1000.0
    assert throughput["ratio"] == 0.95
    assert throughput["target_met"] is True
    assert "at 2 x 1000/s" in throughput["note"]
    assert found["e2e.overload.p99_ms"]["value"]["median"] == 12_000.0
    assert found["e2e.overload.p99_ms"]["ceiling_value"]["median"] == 400.0
    assert found["e2e.overload.p50_ms"]["ratio"] == 30.0

    collapsed = Report()
    set_overload(
        collapsed, 1000.0, delivery(180.0, 40_000.0, 90_000.0, undelivered=400), delivery(1900, 1, 2)
    )
    assert figures(collapsed)["e2e.overload_per_s"]["target_met"] is False
    assert "undelivered 400" in figures(collapsed)["e2e.overload_per_s"]["note"]


class FakeProbes:
    """bench/webhooks.py and the bare pipeline as a queue that serves `capacity` per second."""

    def __init__(self, capacity: float, fail_notify: bool = False) -> None:
        self.capacity = capacity
        self.fail_notify = fail_notify
        self.calls: list[tuple[str, float, int, float | None]] = []

    def document(self, rate: float, events: int) -> dict[str, Any]:
        p99 = 20.0 if rate <= self.capacity else 5000.0
        return delivery(min(rate, self.capacity), p99 / 2, p99, events=events)

    async def pipeline(self, rate: float, events: int, wait: float | None = None) -> dict[str, Any]:
        self.calls.append(("bare", rate, events, wait))
        return self.document(rate, events)

    async def webhooks(self, rate: float, events: int, wait: float | None = None) -> dict[str, Any]:
        self.calls.append(("notify", rate, events, wait))
        if self.fail_notify:
            raise MissingScript("bench.webhooks failed: exit 1")
        return self.document(rate, events)


async def test_the_overload_run_offers_twice_the_max_rate_for_the_plan_s_seconds() -> None:
    plan = QUICK.__class__(ladder_start=250.0, ladder_max=16_000.0, e2e_repeats=1, overload_seconds=25.0)
    report = Report()
    bench = Bench(plan, report)
    probes = FakeProbes(capacity=1000.0)
    bench.pipeline = probes.pipeline  # type: ignore[method-assign]
    bench.webhooks = probes.webhooks  # type: ignore[method-assign]
    await bench.e2e()
    overload = [call for call in probes.calls if call[3] is not None]
    assert [(who, rate, events) for who, rate, events, _ in overload] == [
        ("bare", 2000.0, 50_000),
        ("notify", 2000.0, 50_000),
    ]
    wait = overload[0][3]
    assert wait is not None
    assert wait >= 2 * 50_000 / 1000.0  # enough to work the backlog off at half the max rate
    found = figures(report)
    assert found["e2e.max_sustainable_rate"]["value"]["median"] == 1000.0
    assert found["e2e.overload_per_s"]["ratio"] == 1.0
    assert found["e2e.overload_per_s"]["target_met"] is True
    assert report.scenarios["e2e"]["overload"]["events"] == 50_000


async def test_without_notify_s_max_rate_the_overload_figures_say_why_they_are_missing() -> None:
    report = Report()
    bench = Bench(QUICK, report)
    probes = FakeProbes(capacity=1000.0, fail_notify=True)
    bench.pipeline = probes.pipeline  # type: ignore[method-assign]
    bench.webhooks = probes.webhooks  # type: ignore[method-assign]
    await bench.e2e()
    found = figures(report)
    for name in OVERLOAD_FIGURES:
        assert found[name]["missing"] == "bench.webhooks failed: exit 1"
    assert all(call[3] is None for call in probes.calls)  # no overload run was attempted


def test_a_figure_a_scenario_left_unset_is_marked_missing_but_a_reason_given_is_kept() -> None:
    report = Report()
    report.set("e2e.overload_per_s", None, None, missing="no sustainable rate to overload")
    report.set("scale.notify_1_per_s", summarize([900.0]), summarize([1500.0]))
    report.mark_unset(["e2e.overload_per_s", "scale.notify_1_per_s", "scale.notify_2_per_s"], "ended")
    found = figures(report)
    assert found["e2e.overload_per_s"]["missing"] == "no sustainable rate to overload"
    assert found["scale.notify_1_per_s"]["missing"] is None
    assert found["scale.notify_2_per_s"]["missing"] == "ended"


# -- one against two notify processes ----------------------------------------------------------------


def scale_run(rate: float, *shares: tuple[float, float]) -> dict[str, Any]:
    run = delivery(rate, 100.0, 200.0, events=4000)
    run["per_instance"] = [{"successful_attempts": a, "cpu_seconds": c} for a, c in shares]
    return run


def test_two_processes_are_compared_with_one_and_one_with_the_bare_pipeline() -> None:
    report = Report()
    runs = {
        "1": [scale_run(900.0, (4000, 5.0)), scale_run(1000.0, (4000, 5.1))],
        "2": [scale_run(1500.0, (2100, 3.0), (1900, 2.9)), scale_run(1300.0, (2000, 3.0), (2000, 3.1))],
        "bare": [delivery(2000.0, 1, 2), delivery(2200.0, 1, 2)],
    }
    set_scale(report, 4000.0, runs)
    found = figures(report)
    one, two = found["scale.notify_1_per_s"], found["scale.notify_2_per_s"]
    assert (one["value"]["median"], one["ceiling_value"]["median"]) == (950.0, 2100.0)
    assert (two["value"]["median"], two["ceiling_value"]["median"], two["ratio"]) == (1400.0, 950.0, 1.474)
    assert two["target_met"] is True
    assert "2100 delivered/3.0 s CPU, 1900 delivered/2.9 s CPU" in two["note"]

    slower = Report()
    set_scale(slower, 4000.0, {**runs, "2": [scale_run(800.0, (2000, 3), (2000, 3))]})
    assert figures(slower)["scale.notify_2_per_s"]["target_met"] is False


def test_a_consumer_group_s_members_are_read_from_a_describe_groups_answer() -> None:
    member = ("member-1", "client", "/127.0.0.1", b"", b"")
    groups = [
        (0, "other", "Stable", "consumer", "range", [member]),
        (0, "b.careloop-notify.notify-orders", "PreparingRebalance", "consumer", "range", [member, member]),
    ]
    assert group_members(groups, "b.careloop-notify.notify-orders") == ("PreparingRebalance", 2)
    assert group_members(groups, "absent") == ("", 0)


def test_a_counter_is_summed_over_the_samples_whose_labels_match() -> None:
    text = (
        "# HELP careloop_notify_attempts_total HTTP attempts\n"
        "# TYPE careloop_notify_attempts_total counter\n"
        'careloop_notify_attempts_total{outcome="success",event_type="order.paid"} 30.0\n'
        'careloop_notify_attempts_total{outcome="success",event_type="order.shipped"} 12.0\n'
        'careloop_notify_attempts_total{outcome="timeout",event_type="order.paid"} 5.0\n'
    )
    assert counter(text, "careloop_notify_attempts_total", outcome="success") == 42.0
    assert counter(text, "careloop_notify_attempts_total") == 47.0
    assert counter(text, "careloop_events_consumed_total") == 0.0


# -- intake at the shop's size -----------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=30_000), st.floats(min_value=0.001, max_value=1.0))
def test_the_demo_shop_s_count_is_the_tickets_the_sql_gives_it(tickets: int, share: float) -> None:
    plan = Prefill(tickets, 200, share)
    assert plan.demo_tickets() == sum(1 for n in range(tickets) if n % 1000 < plan.demo_per_mille)


@given(st.integers(min_value=0, max_value=200_000), st.integers(min_value=1, max_value=70_000))
def test_the_prefill_s_chunks_cover_every_ticket_once_in_order(tickets: int, size: int) -> None:
    chunks = Prefill(tickets).chunks(size)
    assert [n for first, last in chunks for n in (first, last)] == sorted(
        n for first, last in chunks for n in (first, last)
    )
    assert sum(last - first + 1 for first, last in chunks) == tickets
    assert all(0 < last - first + 1 <= size for first, last in chunks)
    if chunks:
        assert (chunks[0][0], chunks[-1][1]) == (0, tickets - 1)
        assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(chunks))


def test_a_prefill_needs_two_shops_and_a_share() -> None:
    with pytest.raises(ValueError, match="shops >= 2"):
        Prefill(100, shops=1)
    with pytest.raises(ValueError, match="share"):
        Prefill(100, demo_share=0.0)


def test_the_empty_and_the_prefilled_side_take_turns_so_a_drift_falls_on_both() -> None:
    assert run_order(1) == ["empty", "prefilled"]
    assert run_order(3) == ["empty", "prefilled", "prefilled", "empty", "empty", "prefilled"]
    for repeats in range(6):
        order = run_order(repeats)
        assert order.count("empty") == order.count("prefilled") == repeats


def wrk_run(rate: float, p99: float, wrk_cpu: float = 0.02) -> dict[str, Any]:
    return {
        "ok_per_second": rate,
        "latency_ms": {"p99": p99},
        "generator": {"cpu_share_of_one_core": wrk_cpu},
        "status_400_or_more": 0,
        "errors": 0,
    }


def test_the_prefilled_rate_is_held_against_the_empty_schema_s() -> None:
    prefill = {
        "tickets": 1_000_000,
        "shops": 200,
        "demo_shop_tickets": 250_000,
        "rows": {"tickets": 1_000_000},
        "insert_seconds": 46.0,
        "vacuum_analyze_seconds": 1.1,
        "checkpoint": True,
    }
    result = {
        "prefill": prefill,
        "empty": [wrk_run(600.0, 30.0), wrk_run(640.0, 28.0)],
        "prefilled": [wrk_run(580.0, 33.0, 0.03), wrk_run(600.0, 35.0, 0.03)],
    }
    report = Report()
    set_figures(report, result)
    found = figures(report)
    rate, p99 = found["intake.prefilled.contacts_per_s"], found["intake.prefilled.p99_ms"]
    assert (rate["value"]["median"], rate["ceiling_value"]["median"]) == (590.0, 620.0)
    assert rate["target_met"] is True  # 0.95 of the empty schema's rate
    assert rate["load_cpu"] == {"tool": "wrk", "value": 0.03, "ceiling": 0.02}
    assert "1,000,000 tickets of 200 shops" in rate["note"]
    assert "250,000 of them the loaded shop's" in rate["note"]
    assert (p99["value"]["median"], p99["target_met"]) == (34.0, True)

    slowed = Report()
    set_figures(slowed, {**result, "prefilled": [wrk_run(64.0, 400.0)]})
    assert figures(slowed)["intake.prefilled.contacts_per_s"]["target_met"] is False
    assert figures(slowed)["intake.prefilled.p99_ms"]["target_met"] is False


# -- the README's generated region -------------------------------------------------------------------


def test_the_readme_s_bench_region_is_replaced_and_everything_around_it_kept() -> None:
    def readme(region: str) -> str:
        return f"# CareLoop\n\nintro\n\n{README_START}\n{region}{README_END}\n\nRead with notes.\n"

    once = with_readme_section(readme("## Benchmarks\n\nold table\n\n"), "## Benchmarks\n\n| new |\n")
    assert once == readme("## Benchmarks\n\n| new |\n\n")
    assert with_readme_section(once, "## Benchmarks\n\n| new |\n") == once
    with pytest.raises(ValueError, match="no"):
        with_readme_section("# CareLoop\n## Benchmarks\n", "x")
