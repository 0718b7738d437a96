"""`make bench`: every scenario on the real stack, each figure beside its ceiling, in one report.

    .venv/bin/python -m bench.run            the full run (about 20 minutes on 2 cores)
    .venv/bin/python -m bench.run --quick    a smoke run with small sizes (about 2 minutes)

Needs KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL (source .local/env.sh). Every scenario works in its own
topic and schema prefix, removed afterwards, and talks to loopback only. A scenario that fails leaves
its figures marked missing with the reason; the others still run. Writes <out>/latest.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import http_bench, ingest
from bench.common import (
    ROOT,
    SERVICES,
    PeakMemory,
    run_json_script,
    summarize,
)
from bench.facts import git_commit, machine, versions
from bench.report import E2E_LOADS, SLA_CLOCKS, LoadCpu, Report
from runtime.settings import Settings

log = logging.getLogger("bench")

SUSTAINABLE_P99_MS = 500.0
"""An offered rate is sustained when every event is delivered and p99 stays under this: a backlog
that grows during the probe pushes p99 to seconds."""
TARGET_E2E_P99_MS = 100.0
TARGET_SLA_P99_MS = 1000.0
TARGET_INGEST_SHARE = 0.5


@dataclass(frozen=True)
class Plan:
    repeats: int = 3
    ingest_events: int = 1_000_000
    ingest_window: float = 30.0
    ingest_service_repeats: int = 1
    e2e_seconds: dict[int, float] | None = None
    """Seconds of offered load per rate; events = rate x seconds."""
    e2e_repeats: int = 2
    ladder_start: float = 250.0
    ladder_max: float = 16_000.0
    ladder_min: float = 30.0
    ladder_seconds: float = 3.0
    intake_concurrency: int = 16
    intake_seconds: float = 8.0
    sla_clocks: tuple[int, ...] = SLA_CLOCKS
    sla_repeats: int = 1
    sla_window: float = 60.0
    """Seconds over which the due clocks' deadlines fall, for bench/sla_timers.py and its ceiling alike."""
    sla_due: int | None = 100_000
    """Of the open clocks, how many fall due in the window (the rest a day later); None: all. One
    number for every count, so the figures differ only in how many clocks are open."""
    sla_burst: int = 100_000
    """Clocks all due at the same instant, for the drain rate."""
    sla_lead: float | None = None
    """Seconds from the start of the clock insert to the first deadline; None: enough for this machine
    to insert them (~180 s per million), so the lag measured is the sweep's, not the insert's."""
    timers_lead: float = 10.0
    """The bare timer table inserts a million rows in seconds: it needs no longer lead."""
    survey_concurrency: int = 16
    survey_seconds: float = 8.0
    survey_tokens: int = 20_000
    """Sent invitations whose tokens wrk walks: more than one run's requests at the page's rate."""
    wrk_threads: int = 1
    """One wrk thread keeps the generator's share of the 2 cores small; its CPU is in the report."""
    script_timeout: float = 300.0

    def lead_for(self, clocks: int) -> float:
        return self.sla_lead if self.sla_lead is not None else max(20.0, 180.0 * clocks / 1_000_000)

    def events_at(self, rate: int) -> int:
        seconds = (self.e2e_seconds or {}).get(rate, 5.0)
        return max(20, int(rate * seconds))


FULL = Plan(e2e_seconds={100: 4.0, 1000: 2.0, 5000: 1.0}, ladder_start=500.0)
QUICK = Plan(
    repeats=1,
    ingest_events=20_000,  # 10 batches of 2,000: a service faster than the 0.25 s samples still gets a rate
    ingest_window=5.0,
    e2e_seconds={100: 1.0, 1000: 0.3, 5000: 0.1},
    e2e_repeats=1,
    ladder_start=250.0,
    ladder_max=500.0,
    ladder_min=125.0,
    ladder_seconds=0.3,
    intake_concurrency=4,
    intake_seconds=2.0,
    sla_clocks=(1000, 5000),
    sla_window=2.0,
    sla_due=None,
    sla_burst=2000,
    sla_lead=4.0,
    timers_lead=2.0,
    survey_concurrency=4,
    survey_seconds=2.0,
    survey_tokens=500,
    script_timeout=120.0,
)


class Bench:
    def __init__(self, plan: Plan, report: Report) -> None:
        self.plan = plan
        self.report = report
        self.memory = PeakMemory()
        self.checkpoint: Callable[[], None] = lambda: None
        """Writes the report so far; called inside long scenarios between their parts."""

    async def script(
        self, module: str, *args: str, label: str, timeout: float | None = None
    ) -> dict[str, Any]:
        path = ROOT / Path(*module.split(".")).with_suffix(".py")
        if not path.exists():
            raise MissingScript(f"{path.relative_to(ROOT)} does not exist")
        limit = timeout or self.plan.script_timeout
        result = await run_json_script(["-m", module, *args], limit, self.memory, label)
        if result.document is None:
            raise MissingScript(f"{module} {' '.join(args)} failed: {result.error}")
        result.document["bench_seconds"] = round(result.seconds, 1)
        return result.document

    # -- ingest ----------------------------------------------------------------------------------
    async def ingest(self) -> None:
        plan = self.plan
        result = await ingest.run(
            plan.ingest_events,
            plan.ingest_window,
            plan.repeats,
            plan.ingest_service_repeats,
            SERVICES,
            self.memory,
        )
        self.report.scenarios["ingest"] = result
        bare = result["bare_consumer"]["summary"]
        for service in SERVICES:
            runs = result["services"][service]["runs"]
            value = result["services"][service]["summary"]
            partial = [r for r in runs if not r["complete"]]
            note = (
                f"{len(partial)} of {len(runs)} runs stopped by the {plan.ingest_window:.0f} s window "
                f"before the end of the topic; committed {', '.join(str(r['committed']) for r in runs)} "
                f"of {result['prefill']['events']} events; outcomes {runs[-1]['outcomes']}, "
                f"dead letters {runs[-1]['dead_letters']}"
            )
            bounded = [r for r in runs if r.get("rate_is_lower_bound")]
            if bounded:
                note += (
                    f"; {len(bounded)} run(s) consumed the whole topic between two samples: "
                    "rate is a lower bound (from the last sample with nothing committed)"
                )
            met = None
            if value.get("median") and bare.get("median"):
                met = value["median"] >= TARGET_INGEST_SHARE * bare["median"]
            self.report.set(f"ingest.{service}", value, bare, note=note, target_met=met)

    # -- end to end ------------------------------------------------------------------------------
    async def webhooks(self, rate: float, events: int) -> dict[str, Any]:
        return await self.script(
            "bench.webhooks",
            "--events",
            str(events),
            "--rate",
            str(rate),
            "--timeout",
            str(max(30.0, events / 200)),
            label="webhooks.py (notify in-process)",
        )

    async def pipeline(self, rate: float, events: int) -> dict[str, Any]:
        return await self.script(
            "bench.ceilings",
            "pipeline",
            "--events",
            str(events),
            "--rate",
            str(rate),
            "--timeout",
            str(max(30.0, events / 200)),
            label="bare pipeline (ceiling)",
        )

    async def e2e(self) -> None:
        plan = self.plan
        scenario: dict[str, Any] = {"loads": {}, "ladder": {}}
        self.report.scenarios["e2e"] = scenario
        for load in E2E_LOADS:
            events = plan.events_at(load)
            bare_runs = [await self.pipeline(load, events) for _ in range(plan.e2e_repeats)]
            scenario["loads"][load] = {"bare": bare_runs}
            try:
                notify_runs = [await self.webhooks(load, events) for _ in range(plan.e2e_repeats)]
            except MissingScript as exc:  # the ceiling is still worth reporting
                for pct in ("p50", "p95", "p99"):
                    ceiling = summarize([_ms(r, pct) for r in bare_runs])
                    self.report.set(f"e2e.{load}.{pct}_ms", None, ceiling, missing=str(exc))
                continue
            scenario["loads"][load]["notify"] = notify_runs
            lost = sum(r["undelivered"] for r in notify_runs)
            for pct in ("p50", "p95", "p99"):
                value = summarize([_ms(r, pct) for r in notify_runs])
                ceiling = summarize([_ms(r, pct) for r in bare_runs])
                met = None
                if (load, pct) == (1000, "p99") and value["median"] is not None:
                    met = value["median"] < TARGET_E2E_P99_MS and lost == 0
                self.report.set(
                    f"e2e.{load}.{pct}_ms",
                    value,
                    ceiling,
                    note=f"{events} events per run; undelivered {lost}" if pct == "p99" else None,
                    target_met=met,
                    load_cpu=LoadCpu("receiver", receiver_cpu(notify_runs), receiver_cpu(bare_runs)),
                )
        bare_rate = await self.ladder(self.pipeline, scenario["ladder"], "bare")
        note = (
            f"highest offered rate (doubling or halving from {plan.ladder_start:.0f}/s, down to "
            f"{plan.ladder_min:g}/s, then one bisection) with "
            f"every event delivered and p99 < {SUSTAINABLE_P99_MS:.0f} ms over a "
            f"{plan.ladder_seconds:g} s burst; n=1 search, probes in latest.json"
        )
        try:
            notify_rate = await self.ladder(self.webhooks, scenario["ladder"], "notify")
        except MissingScript as exc:
            self.report.set("e2e.max_sustainable_rate", None, summarize([bare_rate]), missing=str(exc))
            return
        self.report.set(
            "e2e.max_sustainable_rate", summarize([notify_rate]), summarize([bare_rate]), note=note
        )

    async def ladder(
        self, probe: Callable[[float, int], Awaitable[dict[str, Any]]], log_to: dict[str, Any], name: str
    ) -> float:
        """Double the offered rate until a probe is not sustained (or halve it until one is), then
        try the midpoint of the last sustained and the first unsustained rate once."""
        plan = self.plan
        probes: list[dict[str, Any]] = []
        log_to[name] = probes

        async def sustained(rate: float) -> bool:
            result = await probe(rate, max(20, int(rate * plan.ladder_seconds)))
            ok = result["undelivered"] == 0 and (_ms(result, "p99") or 1e12) < SUSTAINABLE_P99_MS
            probes.append({"rate": rate, "sustained": ok, "p99_ms": _ms(result, "p99"), "run": result})
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

    # -- HTTP: intake API and survey page (bench/http_bench.py) ----------------------------------
    async def intake(self) -> None:
        await http_bench.intake(self.plan, self.report, self.memory)

    async def survey(self) -> None:
        await http_bench.survey(self.plan, self.report, self.memory)

    # -- SLA timers ------------------------------------------------------------------------------
    async def sla(self) -> None:
        plan = self.plan
        scenario: dict[str, Any] = {}
        self.report.scenarios["sla"] = scenario
        for clocks, name in zip(plan.sla_clocks, SLA_CLOCKS, strict=True):
            due = clocks if plan.sla_due is None else min(clocks, plan.sla_due)
            shape = ["--clocks", str(clocks), "--due", str(due), "--window", str(plan.sla_window)]
            bare_runs = [
                await self.script(
                    "bench.ceilings",
                    "timers",
                    *shape,
                    "--lead",
                    str(plan.timers_lead),
                    label="bare timers (ceiling)",
                )
                for _ in range(plan.sla_repeats)
            ]
            shape += ["--lead", str(plan.lead_for(clocks))]
            ceiling = summarize([r["lag_ms"]["p99"] or float("nan") for r in bare_runs])
            scenario[str(clocks)] = {"bare": bare_runs}
            try:
                runs = [
                    await self.script(
                        "bench.sla_timers",
                        *shape,
                        label="sla_timers.py",
                        # its own bound: lead + window + 90 s to drain, plus inserting and reading back
                        timeout=plan.lead_for(clocks) + plan.sla_window + 300.0,
                    )
                    for _ in range(plan.sla_repeats)
                ]
            except MissingScript as exc:
                self.report.set(f"sla.lag_p99_ms.{name}", None, ceiling, missing=str(exc))
                continue
            scenario[str(clocks)]["sla"] = runs
            values = [timer_lag_p99_ms(r) for r in runs]
            bounds = [timer_lag_p99_at_least_ms(r) for r in runs]
            bounded = [v is None and b is not None for v, b in zip(values, bounds, strict=True)]
            # too many breaches never reached Kafka for a p99: its lower bound stands in, marked as such
            values = [b if v is None else v for v, b in zip(values, bounds, strict=True)]
            value = summarize([v if v is not None else float("nan") for v in values])
            met = None
            if name == clocks == 1_000_000 and value["median"] is not None:
                met = value["median"] < TARGET_SLA_P99_MS
            self.report.set(
                f"sla.lag_p99_ms.{name}",
                value,
                ceiling,
                target_met=met,
                note=(
                    f"{clocks:,} open clocks, {due:,} of them due over {plan.sla_window:g} s "
                    f"({due / max(plan.sla_window, 1e-9):,.0f} breaches/s)"
                    + (", the rest a day later; " if due < clocks else "; ")
                    + "deadline -> sla.breached in Kafka (sweep + outbox relay); "
                    f"unfired {[r.get('unfired') for r in runs]}, clocks loaded in "
                    f"{[r.get('load_seconds') for r in runs]} s with a {plan.lead_for(clocks):g} s lead, "
                    "loaded after the first deadline by "
                    f"{[r.get('loaded_after_first_deadline_seconds') for r in runs]} s"
                    + (
                        f"; in {sum(bounded)} run(s) over 1 % of the breaches had not reached Kafka "
                        "by the end of the wait: the value is a lower bound of the p99 (at least this late)"
                        if any(bounded)
                        else ""
                    )
                ),
                missing=None if value["median"] is not None else "no timer-lag p99 in sla_timers.py output",
            )
            self.checkpoint()
        await self.sla_burst()

    async def sla_burst(self) -> None:
        """How fast the sweep and relay drain a burst: every clock due at the same instant."""
        plan = self.plan
        shape = ["--clocks", str(plan.sla_burst), "--window", "0"]
        bare = await self.script(
            "bench.ceilings",
            "timers",
            *shape,
            "--lead",
            str(plan.timers_lead),
            label="bare timers burst (ceiling)",
        )
        ceiling = summarize([bare.get("drained_per_second") or float("nan")])
        try:
            run = await self.script(
                "bench.sla_timers",
                *shape,
                "--lead",
                str(plan.lead_for(plan.sla_burst)),
                label="sla_timers.py burst",
                timeout=plan.lead_for(plan.sla_burst) + 300.0,
            )
        except MissingScript as exc:
            self.report.set("sla.drained_per_s", None, ceiling, missing=str(exc))
            return
        self.report.scenarios["sla"]["burst"] = {"bare": bare, "sla": run}
        value = summarize([run.get("drained_per_second") or float("nan")])
        self.report.set(
            "sla.drained_per_s",
            value,
            ceiling,
            note=(
                f"{plan.sla_burst:,} clocks breaching at the same instant, 2 events each; "
                "breaches / (last sla.breached on Kafka - deadline); unfired "
                f"{run.get('unfired')}"
            ),
            missing=None if value["median"] is not None else "not every breach reached Kafka",
        )
        self.checkpoint()

    # -- memory ----------------------------------------------------------------------------------
    async def memory_figures(self) -> None:
        idle = {
            s: await self.script("bench.ceilings", "idle", "--service", s, label=f"{s} idle (ceiling)")
            for s in SERVICES
        }
        peaks = dict(self.memory.peaks_kib)
        self.report.scenarios["memory"] = {"peak_rss_kib": peaks, "idle": idle}
        for service in SERVICES:
            # the service's own processes only: webhooks.py runs notify inside its load generator
            own = {label: kib for label, kib in peaks.items() if label.split(" ", 1)[0] == service}
            ceiling = summarize([idle[service]["peak_rss_kib"] / 1024])
            if not own:
                self.report.set(
                    f"memory.{service}_mib", None, ceiling, missing="no run of this service's process"
                )
                continue
            self.report.set(
                f"memory.{service}_mib",
                summarize([kib / 1024 for kib in own.values()]),
                ceiling,
                note="VmHWM per process: " + ", ".join(f"{k} {v / 1024:.0f} MiB" for k, v in own.items()),
            )


class MissingScript(RuntimeError):
    """A scenario's script is absent or failed: its figures are reported missing, not invented."""


def _ms(run: dict[str, Any], pct: str) -> float:
    value = run["event_to_delivery_latency_ms"].get(pct)
    return float("nan") if value is None else float(value)


def receiver_cpu(runs: list[dict[str, Any]]) -> float | None:
    """Median share of one core the webhook receiver used over runs' publish -> last delivery."""
    shares = [(r.get("receiver") or {}).get("cpu_share_of_one_core") for r in runs]
    median = summarize([float("nan") if s is None else float(s) for s in shares])["median"]
    return None if median is None else float(median)


def timer_lag_p99_at_least_ms(document: dict[str, Any]) -> float | None:
    """bench/sla_timers.py's lower bound of the p99 when too many breaches never reached Kafka."""
    kafka = document.get("kafka_lag_seconds")
    if isinstance(kafka, dict) and isinstance(kafka.get("p99_at_least"), int | float):
        return float(kafka["p99_at_least"]) * 1000.0
    return None


def timer_lag_p99_ms(document: dict[str, Any]) -> float | None:
    """The p99 timer lag in ms from bench/sla_timers.py's JSON: deadline to the sla.breached record in
    Kafka (`kafka_lag_seconds`), else the first mapping under a key naming lag that holds a p99 (a key
    ending in _ms is taken as ms, _s/_seconds as seconds)."""
    kafka = document.get("kafka_lag_seconds")
    if isinstance(kafka, dict):  # the figure's own measure: never stand in another lag for it
        return float(kafka["p99"]) * 1000.0 if isinstance(kafka.get("p99"), int | float) else None

    def search(node: Any, path: str) -> float | None:
        if isinstance(node, dict):
            if "lag" in path and "p99" in node and isinstance(node["p99"], int | float):
                seconds = path.endswith(("_s", "_seconds", "seconds")) and not path.endswith("_ms")
                return float(node["p99"]) * (1000.0 if seconds else 1.0)
            for key, child in node.items():
                found = search(child, f"{path}.{key}".lower())
                if found is not None:
                    return found
        return None

    return search(document, "")


SCENARIOS: dict[str, tuple[str, ...]] = {
    "ingest": tuple(f"ingest.{s}" for s in SERVICES),
    "e2e": (
        *(f"e2e.{load}.{p}_ms" for load in E2E_LOADS for p in ("p50", "p95", "p99")),
        "e2e.max_sustainable_rate",
    ),
    "intake": ("intake.contacts_per_s", "intake.p99_ms", "intake.constant_route_per_s"),
    "sla": (*(f"sla.lag_p99_ms.{c}" for c in SLA_CLOCKS), "sla.drained_per_s"),
    "survey": ("survey.requests_per_s", "survey.p99_ms", "survey.constant_page_per_s"),
    "memory": tuple(f"memory.{s}_mib" for s in SERVICES),
}


async def main_async(plan: Plan, out: Path, only: tuple[str, ...], argv: list[str], quick: bool) -> Report:
    report = Report()
    bench = Bench(plan, report)
    started = time.monotonic()
    settings = Settings()
    report.facts = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "argv": argv,
        "quick": quick,
        "plan": dict(plan.__dict__),
        "machine": machine(),
        "versions": await versions(settings),
        "git": git_commit(),
    }
    steps: dict[str, Callable[[], Awaitable[None]]] = {
        "ingest": bench.ingest,
        "intake": bench.intake,
        "survey": bench.survey,
        "e2e": bench.e2e,
        "memory": bench.memory_figures,  # after every scenario that runs a service process
        "sla": bench.sla,  # the longest; its service runs inside sla_timers.py, not as a service process
    }
    timings: dict[str, float] = {}

    def checkpoint() -> None:
        report.facts["duration_seconds"] = round(time.monotonic() - started, 1)
        report.facts["scenario_seconds"] = timings
        report.write(out)

    bench.checkpoint = checkpoint
    for name, step in steps.items():
        if name not in only:
            report.mark_missing(list(SCENARIOS[name]), "scenario not selected (--only)")
            continue
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        begun = time.monotonic()
        try:
            await step()
        except Exception as exc:  # one broken scenario must not lose the others' figures
            log.exception("scenario %s failed", name)
            report.mark_missing(list(SCENARIOS[name]), f"scenario failed: {type(exc).__name__}: {exc}")
        timings[name] = round(time.monotonic() - begun, 1)
        print(f"bench: {name} done in {timings[name]} s", file=sys.stderr, flush=True)
        checkpoint()  # after every scenario: a later crash still leaves the figures so far
    return report


def parse(argv: list[str]) -> tuple[Plan, Path, tuple[str, ...], bool]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke run with small sizes")
    parser.add_argument("--repeats", type=int, help="runs per figure (heavy scenarios use fewer)")
    parser.add_argument("--ingest-events", type=int, help="events pre-filled in orders.events")
    parser.add_argument("--ingest-window", type=float, help="max seconds measured per service")
    parser.add_argument("--e2e-repeats", type=int)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"subset of {','.join(SCENARIOS)}")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    overrides = {
        "repeats": args.repeats,
        "ingest_events": args.ingest_events,
        "ingest_window": args.ingest_window,
        "e2e_repeats": args.e2e_repeats,
    }
    plan = replace(plan, **{k: v for k, v in overrides.items() if v is not None})
    only = tuple(s for s in args.only.split(",") if s)
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}")
    return plan, args.out, only, args.quick


def main() -> None:
    argv = sys.argv[1:]
    plan, out, only, quick = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for var in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"):
        if not os.environ.get(var):
            sys.exit(f"{var} is not set: run `make bench` or `source .local/env.sh` first")
    report = asyncio.run(main_async(plan, out, only, argv, quick))
    summary = {
        name: (f.value or {}).get("median") if not f.missing else "missing"
        for name, f in report.figures.items()
    }
    print(json.dumps({"written": str(out), "medians": summary}, indent=2))


if __name__ == "__main__":
    main()
