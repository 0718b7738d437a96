"""`make bench`'s webhook figures: event -> signed webhook latency at fixed offered rates, the max
sustainable rate, the throughput at twice that rate (no collapse), and one against two notify
processes, each beside the bare pipeline of bench/ceilings.py or the figure it is compared with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bench.common import MissingScript, summarize
from bench.report import E2E_LOADS, LoadCpu, Report

if TYPE_CHECKING:
    from bench.run import Bench

SUSTAINABLE_P99_MS = 500.0
"""An offered rate is sustained when every event is delivered and p99 stays under this: a backlog
that grows during the probe pushes p99 to seconds."""
TARGET_E2E_P99_MS = 100.0
OVERLOAD_FACTOR = 2.0
"""The overload run offers this many times the max sustainable rate the ladder found."""
TARGET_OVERLOAD_SHARE = 0.9
"""At twice the max sustainable rate, notify must still deliver this share of that rate: a queue
whose claims cost more as the backlog grows delivers less and less instead."""
TARGET_MAX_SUSTAINABLE = 2000.0
"""Issue #19's target for the ladder's highest sustained rate on this machine."""
TARGET_SCALE_SHARE = 1.0
OVERLOAD_FIGURES = ("e2e.overload_per_s", "e2e.overload.p50_ms", "e2e.overload.p99_ms")
SCALE_FIGURES = ("scale.notify_1_per_s", "scale.notify_2_per_s")


def ms(run: dict[str, Any], pct: str) -> float:
    value = run["event_to_delivery_latency_ms"].get(pct)
    return float("nan") if value is None else float(value)


def receiver_cpu(runs: list[dict[str, Any]]) -> float | None:
    """Median share of one core the webhook receiver used over runs' publish -> last delivery."""
    shares = [(r.get("receiver") or {}).get("cpu_share_of_one_core") for r in runs]
    median = summarize([float("nan") if s is None else float(s) for s in shares])["median"]
    return None if median is None else float(median)


def receiver_load(runs: list[dict[str, Any]], ceiling_runs: list[dict[str, Any]]) -> LoadCpu:
    return LoadCpu("receiver", receiver_cpu(runs), receiver_cpu(ceiling_runs))


def throughputs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return summarize([float(r["deliveries_per_second"]) for r in runs])


async def e2e(bench: Bench) -> None:
    plan = bench.plan
    scenario: dict[str, Any] = {"loads": {}, "ladder": {}}
    bench.report.scenarios["e2e"] = scenario
    for load in E2E_LOADS:
        await fixed_load(bench, scenario, load)
    bare_rate = await ladder(bench, bench.pipeline, scenario["ladder"], "bare")
    note = (
        f"highest offered rate (doubling or halving from {plan.ladder_start:.0f}/s, down to "
        f"{plan.ladder_min:g}/s, then one bisection) with "
        f"every event delivered and p99 < {SUSTAINABLE_P99_MS:.0f} ms over a "
        f"{plan.ladder_seconds:g} s burst; n=1 search, probes in latest.json"
    )
    try:
        notify_rate = await ladder(bench, bench.webhooks, scenario["ladder"], "notify")
    except MissingScript as exc:
        bench.report.set("e2e.max_sustainable_rate", None, summarize([bare_rate]), missing=str(exc))
        bench.report.mark_missing(list(OVERLOAD_FIGURES), str(exc))
        return
    bench.report.set(
        "e2e.max_sustainable_rate",
        summarize([notify_rate]),
        summarize([bare_rate]),
        note=note,
        target_met=notify_rate >= TARGET_MAX_SUSTAINABLE,
    )
    bench.checkpoint()
    await overload(bench, scenario, notify_rate)


async def fixed_load(bench: Bench, scenario: dict[str, Any], load: int) -> None:
    events = bench.plan.events_at(load)
    bare_runs = [await bench.pipeline(load, events) for _ in range(bench.plan.e2e_repeats)]
    scenario["loads"][load] = {"bare": bare_runs}
    try:
        notify_runs = [await bench.webhooks(load, events) for _ in range(bench.plan.e2e_repeats)]
    except MissingScript as exc:  # the ceiling is still worth reporting
        for pct in ("p50", "p95", "p99"):
            ceiling = summarize([ms(r, pct) for r in bare_runs])
            bench.report.set(f"e2e.{load}.{pct}_ms", None, ceiling, missing=str(exc))
        return
    scenario["loads"][load]["notify"] = notify_runs
    lost = sum(r["undelivered"] for r in notify_runs)
    for pct in ("p50", "p95", "p99"):
        value = summarize([ms(r, pct) for r in notify_runs])
        met = None
        if (load, pct) == (1000, "p99") and value["median"] is not None:
            met = value["median"] < TARGET_E2E_P99_MS and lost == 0
        bench.report.set(
            f"e2e.{load}.{pct}_ms",
            value,
            summarize([ms(r, pct) for r in bare_runs]),
            note=f"{events} events per run; undelivered {lost}" if pct == "p99" else None,
            target_met=met,
            load_cpu=receiver_load(notify_runs, bare_runs),
        )


async def ladder(
    bench: Bench,
    probe: Callable[[float, int], Awaitable[dict[str, Any]]],
    log_to: dict[str, Any],
    name: str,
) -> float:
    """Double the offered rate until a probe is not sustained (or halve it until one is), then
    try the midpoint of the last sustained and the first unsustained rate once."""
    plan = bench.plan
    probes: list[dict[str, Any]] = []
    log_to[name] = probes

    async def sustained(rate: float) -> bool:
        result = await probe(rate, max(20, int(rate * plan.ladder_seconds)))
        ok = result["undelivered"] == 0 and (ms(result, "p99") or 1e12) < SUSTAINABLE_P99_MS
        probes.append({"rate": rate, "sustained": ok, "p99_ms": ms(result, "p99"), "run": result})
        return ok

    best, rate = 0.0, plan.ladder_start
    while rate <= plan.ladder_max and await sustained(rate):
        best, rate = rate, rate * 2
    if not best:  # not even the start: halve down to a floor so the figure still says something
        rate /= 2
        while rate >= plan.ladder_min and not await sustained(rate):
            rate /= 2
        if rate < plan.ladder_min:
            return 0.0
        best, rate = rate, rate * 2
    if rate <= plan.ladder_max:
        middle = (best + rate) / 2
        if await sustained(middle):
            best = middle
    return best


async def overload(bench: Bench, scenario: dict[str, Any], max_rate: float) -> None:
    """Offer OVERLOAD_FACTOR x the max sustainable rate for `overload_seconds`: a backlog forms, and
    the throughput says whether notify still delivers at its max rate while it works it off."""
    plan = bench.plan
    if max_rate <= 0:
        bench.report.mark_missing(list(OVERLOAD_FIGURES), "no sustainable rate to overload")
        return
    rate = OVERLOAD_FACTOR * max_rate
    events = max(20, int(rate * plan.overload_seconds))
    # long enough to work off the backlog at half the max rate; a slower run stops there, and its
    # throughput (delivered over first publish -> last delivery) still says how slow it was
    wait = 2 * events / max_rate + 30.0
    scenario["overload"] = {"rate": rate, "events": events, "wait_seconds": wait}
    try:
        bare = await bench.pipeline(rate, events, wait)
        notify = await bench.webhooks(rate, events, wait)
    except MissingScript as exc:
        bench.report.mark_missing(list(OVERLOAD_FIGURES), str(exc))
        return
    scenario["overload"] |= {"bare": bare, "notify": notify}
    set_overload(bench.report, max_rate, notify, bare)


def set_overload(report: Report, max_rate: float, notify: dict[str, Any], bare: dict[str, Any]) -> None:
    delivered = summarize([float(notify["deliveries_per_second"])])
    share = (delivered["median"] or 0.0) / max_rate
    note = (
        f"{notify['events']:,} events offered at {OVERLOAD_FACTOR:g} x {max_rate:g}/s "
        f"(published at {notify['achieved_publish_rate_per_second']:,.0f}/s); delivered "
        f"{notify['delivered']:,}, undelivered {notify['undelivered']:,}, "
        f"{notify['seconds_first_publish_to_last_delivery']} s first publish -> last delivery"
    )
    report.set(
        "e2e.overload_per_s",
        delivered,
        summarize([max_rate]),
        note=note,
        target_met=share >= TARGET_OVERLOAD_SHARE,
        load_cpu=receiver_load([notify], [bare]),
    )
    for pct in ("p50", "p99"):
        report.set(
            f"e2e.overload.{pct}_ms",
            summarize([ms(notify, pct)]),
            summarize([ms(bare, pct)]),
            load_cpu=receiver_load([notify], [bare]),
        )


async def scale(bench: Bench) -> None:
    """One notify process against two in one consumer group, under the same offered load, the two
    alternating run by run; the bare pipeline under that load is the one process's ceiling."""
    plan = bench.plan
    events = max(20, int(plan.scale_rate * plan.scale_seconds))
    wait = events / 200 + 30.0
    runs: dict[str, list[dict[str, Any]]] = {"1": [], "2": [], "bare": []}
    bench.report.scenarios["scale"] = {"rate": plan.scale_rate, "events": events, "runs": runs}
    for _ in range(plan.scale_repeats):
        for instances in ("1", "2"):
            runs[instances].append(
                await bench.script(
                    "bench.scale_out",
                    *("--instances", instances, "--events", str(events)),
                    *("--rate", str(plan.scale_rate), "--timeout", str(wait)),
                    label=f"scale_out.py ({instances} notify)",
                    timeout=wait + plan.scale_seconds + 180.0,
                )
            )
        runs["bare"].append(await bench.pipeline(plan.scale_rate, events, wait))
    set_scale(bench.report, plan.scale_rate, runs)


def set_scale(report: Report, rate: float, runs: dict[str, list[dict[str, Any]]]) -> None:
    one, two, bare = throughputs(runs["1"]), throughputs(runs["2"]), throughputs(runs["bare"])

    def note(of: list[dict[str, Any]]) -> str:
        lost = sum(r["undelivered"] for r in of)
        work = "; ".join(
            ", ".join(
                f"{i['successful_attempts']:.0f} delivered/{i['cpu_seconds']} s CPU"
                for i in r["per_instance"]
            )
            for r in of
        )
        offered = f"{of[0]['events']:,} events offered at {rate:g}/s per run"
        return f"{offered}; undelivered {lost}; per process: {work}"

    report.set(
        "scale.notify_1_per_s",
        one,
        bare,
        note=note(runs["1"]),
        load_cpu=receiver_load(runs["1"], runs["bare"]),
    )
    met = None
    if two["median"] is not None and one["median"]:
        met = two["median"] >= TARGET_SCALE_SHARE * one["median"]
    report.set(
        "scale.notify_2_per_s",
        two,
        one,
        note=note(runs["2"]),
        target_met=met,
        load_cpu=receiver_load(runs["2"], runs["1"]),
    )
