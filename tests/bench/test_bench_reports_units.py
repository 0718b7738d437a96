"""The report scenario's own logic, without infrastructure: which shop and period each timed report asks
for, the customers it asks a 360 of, and the figures it writes (beside the bare statements' ceiling,
the p99 held against 300 ms)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from bench.common import DEMO_SHOP
from bench.intake_prefill import Prefill
from bench.orders_prefill import EVENTS_PER_ORDER, OrderPrefill
from bench.plan import FULL, QUICK
from bench.report import FIGURE_NAMES, SPECS, Report
from bench.reports_bench import (
    CASES,
    SMALL_SHOPS,
    customers_of_the_large_shop,
    params,
    requests_plan,
)
from bench.reports_scenario import FIGURES, reports, set_figures
from bench.run import SCENARIOS, Bench


def run(p99: float, ceiling_p99: float) -> dict[str, Any]:
    """A bench/reports_bench.py document with the fields the figures read."""

    def ms(p50: float, p99_: float) -> dict[str, float]:
        return {"p50": p50, "p95": p99_, "p99": p99_, "max": p99_}

    return {
        "prefill": {
            "tickets": {
                "tickets": 1_000_000,
                "shops": 200,
                "demo_shop_tickets": 250_000,
                "insert_seconds": 50.0,
            },
            "orders": {"orders": 1_000_000, "order_events": 5_000_000, "insert_seconds": 15.0},
        },
        "requests": 200,
        "cases": CASES,
        "shops": [DEMO_SHOP, *SMALL_SHOPS],
        "report_ms": ms(20.0, p99),
        "ceiling_ms": ms(8.0, ceiling_p99),
        "year_ms": ms(300.0, 450.0),
        "year_ceiling_ms": ms(250.0, 400.0),
        "customer_360_ms": ms(4.0, 9.0),
    }


def by_name(report: Report) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in report.to_json()["figures"]}


def test_every_case_for_every_shop_in_a_fixed_shuffle() -> None:
    shops = (DEMO_SHOP, *SMALL_SHOPS)
    plan = requests_plan(len(shops) * len(CASES) * 3, shops, CASES)
    assert plan == requests_plan(len(plan), shops, CASES)  # the same in every run
    asked = Counter((shop, tuple(sorted(case.items()))) for shop, case in plan)
    assert len(asked) == len(shops) * len(CASES)
    assert set(asked.values()) == {3}


def test_a_case_s_from_is_days_before_now() -> None:
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert params({"from": "-7", "granularity": "day"}, now) == {"from": "2026-03-03", "granularity": "day"}
    assert params({}, now) == {}


def test_the_360s_are_of_the_large_shop_s_customers() -> None:
    orders = OrderPrefill(40_000 * EVENTS_PER_ORDER, Prefill(10_000))
    customers = customers_of_the_large_shop(orders, 100)
    assert len(customers) == len(set(customers)) == 100
    assert all(int(c.removeprefix("pf-c-")) % 1000 < 250 for c in customers)


def test_the_p99_is_held_against_300_ms_beside_the_bare_statements() -> None:
    assert SCENARIOS["reports"] == FIGURES
    assert set(FIGURES) <= set(FIGURE_NAMES)
    specs = {s.name: s for s in SPECS}
    assert specs["reports.intake.p99_ms"].target == "< 300 ms"
    assert specs["reports.customer_360.p99_ms"].ceiling is None
    for p99, met in ((120.0, True), (350.0, False)):
        report = Report()
        set_figures(report, [run(p99, 60.0), run(p99 + 20, 80.0)])
        figures = by_name(report)
        assert figures["reports.intake.p99_ms"]["value"]["median"] == p99 + 10
        assert figures["reports.intake.p99_ms"]["ceiling_value"]["median"] == 70.0
        assert figures["reports.intake.p99_ms"]["target_met"] is met
        assert figures["reports.intake.year_p99_ms"]["ceiling_value"]["median"] == 400.0
        assert figures["reports.customer_360.p99_ms"]["value"]["median"] == 9.0
    note = figures["reports.intake.p99_ms"]["note"]
    assert "1,000,000 tickets of 200 shops (250,000 the large shop's)" in note
    assert "5,000,000 order events" in note


async def test_the_scenario_runs_the_plan_s_sizes_once_per_repeat() -> None:
    calls: list[tuple[str, ...]] = []

    async def script(module: str, *args: str, label: str, timeout: float | None = None) -> dict[str, Any]:
        calls.append((module, *args))
        return run(100.0, 50.0)

    bench = Bench(FULL, Report())
    bench.script = script  # type: ignore[method-assign]
    await reports(bench)
    sizes = ("--tickets", "1000000", "--order-events", "5000000", "--requests", "200")
    assert calls == [("bench.reports_bench", *sizes)] * FULL.reports_repeats
    assert QUICK.reports_tickets < FULL.reports_tickets
