"""The harness's own logic, without infrastructure: statistics, parsing of the scripts' output, the
event copies that fill the ingest topic, the sustainable-rate search and the report."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.common import MissingScript, last_json_object, percentile, summarize
from bench.ingest import base_journeys, copy_event
from bench.plan import QUICK
from bench.report import FIGURE_NAMES, Report
from bench.run import Bench
from bench.sla_scenario import timer_lag_p99_at_least_ms, timer_lag_p99_ms
from schemas.registry import decode_event

BASE = base_journeys(20)


def test_summarize_gives_min_median_max_and_drops_runs_without_a_value() -> None:
    summary = summarize([3.0, 1.0, float("nan"), 2.0, 10.0])
    assert summary["n"] == 4
    assert (summary["min"], summary["median"], summary["max"]) == (1.0, 2.5, 10.0)
    assert summarize([float("nan")])["median"] is None


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=200))
def test_percentile_is_a_sample_between_min_and_max(values: list[float]) -> None:
    ordered = sorted(values)
    for share in (0.5, 0.95, 0.99):
        assert percentile(ordered, share) in ordered
    assert percentile(ordered, 0.5) <= percentile(ordered, 0.99) <= ordered[-1]


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert math.isnan(percentile([], 0.5))


def test_the_json_document_is_found_after_log_lines_on_stdout() -> None:
    document = {"benchmark": "webhooks", "latency": {"p99": 12.5}}
    stdout = "2026-01-01 INFO - FastStream app starting...\n{not json either\n" + json.dumps(
        document, indent=2
    )
    assert last_json_object(stdout + "\n") == document
    assert last_json_object("only logs\n") is None


def test_sla_timer_lag_is_read_in_milliseconds_whatever_the_unit() -> None:
    sla_timers = {"kafka_lag_seconds": {"n": 10, "p50": 0.2, "p99": 0.75}, "sweep_lag_seconds": {}}
    assert timer_lag_p99_ms(sla_timers) == 750.0
    assert timer_lag_p99_ms({"timer": {"lag_ms": {"p99": 42.0}}}) == 42.0
    assert timer_lag_p99_ms({"lag_s": {"p99": 2}}) == 2000.0
    assert timer_lag_p99_ms({"throughput": 5}) is None


def test_without_a_kafka_p99_the_lower_bound_is_read_and_the_sweep_lag_never_stands_in() -> None:
    unfinished = {
        "kafka_lag_seconds": {"n": 10, "p99": None, "p99_at_least": 180.5},
        "sweep_lag_seconds": {"p99": 0.3},
    }
    assert timer_lag_p99_ms(unfinished) is None
    assert timer_lag_p99_at_least_ms(unfinished) == 180_500.0
    assert timer_lag_p99_at_least_ms({"kafka_lag_seconds": {"p99": 0.75}}) is None


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=1_000_000), st.integers(min_value=0, max_value=len(BASE) - 1))
def test_copied_events_are_valid_distinct_and_move_every_order_number(shift: int, index: int) -> None:
    key, raw, number = BASE[index]
    value, copy_key = copy_event(raw, shift)
    original, copy = decode_event(raw), decode_event(value)
    assert copy.id != original.id
    assert copy.type == original.type
    assert copy.data.order_id == f"demo-shop-{number + shift:07d}"
    assert copy.subject == copy_key.decode() == copy.data.order_id
    for field in ("return_id", "repair_id"):
        if hasattr(original.data, field):
            before, after = getattr(original.data, field), getattr(copy.data, field)
            assert int(after.rsplit("-", 1)[1]) == int(before.rsplit("-", 1)[1]) + shift
    assert copy.data.customer == original.data.customer
    if shift == 0:
        assert copy_key == key


async def test_the_sustainable_rate_search_doubles_then_bisects_once() -> None:
    bench = Bench(QUICK.__class__(ladder_start=250.0, ladder_max=16_000.0, ladder_seconds=1.0), Report())
    capacity = 3000.0
    offered: list[float] = []

    async def probe(rate: float, events: int) -> dict[str, Any]:
        offered.append(rate)
        p99 = 20.0 if rate <= capacity else 5000.0
        return {"undelivered": 0, "event_to_delivery_latency_ms": {"p99": p99}}

    log: dict[str, Any] = {}
    assert await bench.ladder(probe, log, "fake") == 3000.0
    assert offered == [250.0, 500.0, 1000.0, 2000.0, 4000.0, 3000.0]
    assert [p["sustained"] for p in log["fake"]] == [True, True, True, True, False, True]


async def test_a_rate_with_lost_events_is_not_sustained() -> None:
    bench = Bench(QUICK.__class__(ladder_start=100.0, ladder_max=400.0), Report())
    offered: list[float] = []

    async def probe(rate: float, events: int) -> dict[str, Any]:
        offered.append(rate)
        return {"undelivered": 1, "event_to_delivery_latency_ms": {"p99": 1.0}}

    assert await bench.ladder(probe, {}, "lossy") == 0.0
    assert offered == [100.0, 50.0]  # 25/s is under the 30/s floor


async def test_when_the_start_is_not_sustained_the_search_halves_then_bisects() -> None:
    bench = Bench(QUICK.__class__(ladder_start=500.0, ladder_max=16_000.0), Report())
    offered: list[float] = []

    async def probe(rate: float, events: int) -> dict[str, Any]:
        offered.append(rate)
        return {"undelivered": 0, "event_to_delivery_latency_ms": {"p99": 20.0 if rate <= 200 else 9000.0}}

    assert await bench.ladder(probe, {}, "slow") == 187.5
    assert offered == [500.0, 250.0, 125.0, 187.5]


def test_the_report_lists_every_figure_with_ratio_target_and_missing_reason() -> None:
    report = Report()
    report.facts = {"machine": {"cores": 2}, "versions": {}, "git": {"commit": "abc"}, "argv": []}
    report.set(
        "ingest.intake", summarize([400.0, 500.0]), summarize([50_000.0]), target_met=False, note="window"
    )
    report.mark_missing(["sla.lag_p99_ms.1000000"], "bench/sla_timers.py failed: boom")
    document = report.to_json()
    by_name = {f["name"]: f for f in document["figures"]}
    assert tuple(by_name) == FIGURE_NAMES
    assert by_name["ingest.intake"]["ratio"] == 0.009
    assert by_name["ingest.intake"]["target_met"] is False
    assert by_name["sla.lag_p99_ms.1000000"]["missing"] == "bench/sla_timers.py failed: boom"
    markdown = report.markdown()
    for name in FIGURE_NAMES:
        assert f"`{name}`" in markdown
    assert "| 450 | 500 | 50,000 | 0.009 |" in markdown
    assert "bench/sla_timers.py failed: boom" in markdown


async def test_a_broken_webhooks_script_leaves_its_figures_missing_but_keeps_the_ceilings() -> None:
    report = Report()
    bench = Bench(QUICK, report)

    async def pipeline(rate: float, events: int, wait: float | None = None) -> dict[str, Any]:
        return {"undelivered": 0, "event_to_delivery_latency_ms": {"p50": 5.0, "p95": 8.0, "p99": 9.0}}

    async def webhooks(rate: float, events: int, wait: float | None = None) -> dict[str, Any]:
        raise MissingScript("bench.webhooks failed: exit 1: ImportError")

    bench.pipeline = pipeline  # type: ignore[method-assign]
    bench.webhooks = webhooks  # type: ignore[method-assign]
    await bench.e2e()
    figures = {f["name"]: f for f in report.to_json()["figures"]}
    for name in ("e2e.100.p99_ms", "e2e.1000.p50_ms", "e2e.max_sustainable_rate", "e2e.overload_per_s"):
        assert figures[name]["missing"] == "bench.webhooks failed: exit 1: ImportError"
        assert figures[name]["value"] is None
    assert figures["e2e.1000.p99_ms"]["ceiling_value"]["median"] == 9.0
    assert figures["e2e.max_sustainable_rate"]["ceiling_value"]["median"] == QUICK.ladder_max
