"""The automatic-answer and workspace scenarios' own logic, without infrastructure: the two legs of a
contact matched to its reply and its webhook, percentiles that count the replies never received, and
the figures each scenario writes in the report and the README."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bench.common import latency_ms, summarize
from bench.plan import FULL, QUICK
from bench.report import FIGURE_NAMES, SPECS, Report, readme_section
from bench.run import SCENARIOS, Bench
from bench.wismo import latency_with_lost, legs
from bench.wismo_scenario import FIGURES as WISMO_FIGURES
from bench.wismo_scenario import set_figures as set_wismo
from bench.wismo_scenario import wismo
from bench.workspace_scenario import FIGURES as WORKSPACE_FIGURES
from bench.workspace_scenario import set_figures as set_workspace
from services.notify.handlers import webhook_id_for


def wismo_run(replied: dict[str, float | None], webhook: dict[str, float | None]) -> dict[str, Any]:
    """A bench/wismo.py document with the fields the figures read."""
    return {
        "offered_per_s": 50.0,
        "contacts": 1000,
        "answered_201": 1000,
        "replied_on_kafka": 1000,
        "webhooks_received": 990,
        "duplicate_webhook_requests": 0,
        "contact_http_ms": {"p50": 10.0, "p95": 20.0, "p99": 25.0, "max": 30.0},
        "contact_to_ticket_replied_ms": replied,
        "contact_to_reply_webhook_ms": webhook,
    }


def workspace_run(p50: float, p99: float) -> dict[str, Any]:
    def page(server: tuple[float, float], client: tuple[float, float]) -> dict[str, Any]:
        return {
            "requests": 200,
            "bytes": 317_090,
            "server_ms": {"p50": server[0], "p95": server[1], "p99": server[1], "max": server[1]},
            "client_ms": {"p50": client[0], "p95": client[1], "p99": client[1], "max": client[1]},
        }

    return {
        "tickets": 500,
        "queue": page((p50, p99), (p50 + 6, p99 + 6)),
        "ticket": page((5.0, 9.0), (7.0, 11.0)),
    }


def by_name(report: Report) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in report.to_json()["figures"]}


@given(st.lists(st.floats(0.0, 10.0), max_size=300))
def test_with_nothing_lost_the_percentiles_are_the_arrived_ones(seconds: list[float]) -> None:
    arrived = sorted(seconds)
    assert latency_with_lost(arrived, 0) == latency_ms(arrived)


@given(st.lists(st.floats(0.0, 10.0), min_size=1, max_size=300), st.integers(1, 50))
def test_a_percentile_falling_on_a_lost_reply_is_unknown_and_the_others_are_unchanged(
    seconds: list[float], lost: int
) -> None:
    arrived = sorted(seconds)
    total = len(arrived) + lost
    figures = latency_with_lost(arrived, lost)
    assert figures["max"] is None
    for name, share in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        rank = min(total - 1, max(0, round(share * total) - 1))
        if rank >= len(arrived):
            assert figures[name] is None
        else:
            assert figures[name] == round(arrived[rank] * 1000, 2)


def test_one_lost_reply_in_a_hundred_leaves_the_p99_known_two_do_not() -> None:
    arrived = [i / 1000 for i in range(1, 100)]
    assert latency_with_lost(arrived, 1)["p99"] == 99.0
    assert latency_with_lost(arrived[:98], 2)["p99"] is None
    assert latency_with_lost(arrived[:98], 2)["p50"] == 50.0


def test_each_contact_is_matched_to_its_reply_and_to_the_webhook_of_that_reply_s_event() -> None:
    wall = 1_700_000_000.0  # wall clock - monotonic clock
    answered = [(100.0, 100.01, "tkt_a"), (100.02, 100.05, "tkt_b"), (100.04, 100.06, "tkt_c")]
    replies = {"tkt_a": 100.03, "tkt_b": 100.1, "tkt_other": 100.0}  # tkt_c's never came
    ids = {"tkt_a": webhook_id_for("evt_a"), "tkt_b": webhook_id_for("evt_b")}
    webhooks = {
        ids["tkt_a"]: wall + 100.05,
        webhook_id_for("evt_unrelated"): wall + 100.0,  # not one of these contacts' replies
    }
    on_kafka, webhook = legs(answered, replies, ids, webhooks, wall)
    assert [round(s, 6) for s in on_kafka] == [0.03, 0.08]
    assert [round(s, 6) for s in webhook] == [0.05]


def test_the_reply_leg_stands_beside_the_http_answer_and_the_webhook_leg_beside_the_reply() -> None:
    assert SCENARIOS["wismo"] == WISMO_FIGURES
    assert set(WISMO_FIGURES) <= set(FIGURE_NAMES)
    report = Report()
    runs = [
        wismo_run({"p50": 30.0, "p99": 100.0}, {"p50": 45.0, "p99": 150.0}),
        wismo_run({"p50": 40.0, "p99": 120.0}, {"p50": 55.0, "p99": None}),
    ]
    set_wismo(report, runs)
    figures = by_name(report)
    assert figures["wismo.replied.p50_ms"]["value"]["median"] == 35.0
    assert figures["wismo.replied.p50_ms"]["ceiling_value"]["median"] == 10.0
    assert figures["wismo.replied.p99_ms"]["ratio"] == 4.4
    assert figures["wismo.webhook.p50_ms"]["ceiling_value"]["median"] == 35.0
    assert figures["wismo.webhook.p99_ms"]["value"]["runs"] == [150.0]  # the unknown run is left out
    assert figures["wismo.webhook.p99_ms"]["ceiling_value"]["median"] == 110.0
    assert all(figures[name]["target"] is None for name in WISMO_FIGURES)
    assert not any(figures[name]["missing"] for name in WISMO_FIGURES)
    note = figures["wismo.webhook.p99_ms"]["note"]
    assert "1,000 contacts offered at 50/s" in note
    assert "reply webhooks received: 990, 990" in note


def test_a_p99_unknown_in_every_run_is_missing_with_the_reason() -> None:
    report = Report()
    set_wismo(report, [wismo_run({"p50": 30.0, "p99": 100.0}, {"p50": 45.0, "p99": None})])
    figures = by_name(report)
    assert figures["wismo.webhook.p99_ms"]["missing"] == (
        "in every run the p99 fell on a contact whose reply webhook never arrived"
    )
    assert figures["wismo.webhook.p99_ms"]["ceiling_value"]["median"] == 100.0
    assert "never arrived" in report.markdown()


async def test_the_scenario_offers_the_plan_s_rate_for_its_seconds_once_per_repeat() -> None:
    calls: list[tuple[str, ...]] = []

    async def script(module: str, *args: str, label: str, timeout: float | None = None) -> dict[str, Any]:
        calls.append((module, *args))
        return wismo_run({"p50": 30.0, "p99": 100.0}, {"p50": 45.0, "p99": 150.0})

    report = Report()
    bench = Bench(FULL, report)
    bench.script = script  # type: ignore[method-assign]
    await wismo(bench)
    assert calls == [("bench.wismo", "--rate", "50.0", "--seconds", "20.0")] * FULL.wismo_repeats
    assert QUICK.wismo_rate == FULL.wismo_rate == 50.0  # the smoke run is shorter, not slower
    assert len(report.scenarios["wismo"]["runs"]) == FULL.wismo_repeats
    assert by_name(report)["wismo.replied.p99_ms"]["value"]["n"] == FULL.wismo_repeats


def test_the_queue_s_p99_server_time_is_held_against_100_ms_and_has_no_ceiling() -> None:
    assert SCENARIOS["workspace"] == WORKSPACE_FIGURES
    specs = {s.name: s for s in SPECS}
    assert all(specs[name].ceiling is None for name in WORKSPACE_FIGURES)
    assert specs["workspace.queue.p99_ms"].target == "< 100 ms"
    for p99, met in ((80.0, True), (130.0, False)):
        report = Report()
        set_workspace(report, [workspace_run(40.0, p99), workspace_run(42.0, p99 + 10)])
        figures = by_name(report)
        assert figures["workspace.queue.p99_ms"]["value"]["median"] == p99 + 5
        assert figures["workspace.queue.p99_ms"]["target_met"] is met
        assert figures["workspace.queue.p99_ms"]["ceiling_value"] is None
        assert figures["workspace.queue.p99_ms"]["ratio"] is None
        assert figures["workspace.queue.p50_ms"]["value"]["median"] == 41.0
        assert figures["workspace.queue.p50_ms"]["target_met"] is None
    note = figures["workspace.queue.p99_ms"]["note"]
    assert "500 unfinished tickets on one page (317,090 bytes)" in note
    assert "a ticket page's server time p50/p99 5.0/9.0 ms" in note


def test_a_figure_without_a_ceiling_says_so_in_the_report_and_the_readme() -> None:
    report = Report()
    report.facts = {"machine": {}, "versions": {}, "git": {}, "argv": []}
    report.set("workspace.queue.p99_ms", summarize([120.0]), None, target_met=False)
    report.mark_unset(list(FIGURE_NAMES), "not measured in this test")
    markdown = report.markdown()
    assert "| `workspace.queue.p99_ms` | ms | 1 | 120 | 120 | 120 | - | - | < 100 ms | **no** |" in markdown
    assert (
        "- none (nothing barer does the same work): `workspace.queue.p50_ms`, `workspace.queue.p99_ms`"
        in markdown
    )
    readme = readme_section(report.to_json())
    assert "server time (Server-Timing) p99 (ms) | 120 (120-120, n=1) | - | - | < 100 ms - **not met** |" in (
        readme
    )
