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
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import http_bench, ingest, sla_scenario
from bench.common import (
    ROOT,
    SERVICES,
    MissingScript,
    PeakMemory,
    run_json_script,
    summarize,
)
from bench.facts import git_commit, machine, versions
from bench.plan import FULL, QUICK, Plan
from bench.report import E2E_LOADS, SLA_CLOCKS, LoadCpu, Report
from runtime.settings import Settings

log = logging.getLogger("bench")

SUSTAINABLE_P99_MS = 500.0
"""An offered rate is sustained when every event is delivered and p99 stays under this: a backlog
that grows during the probe pushes p99 to seconds."""
TARGET_E2E_P99_MS = 100.0
TARGET_INGEST_SHARE = 0.5


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

    # -- SLA timers (bench/sla_scenario.py) -----------------------------------------------------
    async def sla(self) -> None:
        await sla_scenario.sla(self)

    # -- memory ----------------------------------------------------------------------------------
    async def memory_figures(self) -> None:
        # the services' peaks before the idle ceilings run: their labels start with the service's name too
        peaks = dict(self.memory.peaks_kib)
        idle = {
            s: await self.script("bench.ceilings", "idle", "--service", s, label=f"{s} idle (ceiling)")
            for s in SERVICES
        }
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


def _ms(run: dict[str, Any], pct: str) -> float:
    value = run["event_to_delivery_latency_ms"].get(pct)
    return float("nan") if value is None else float(value)


def receiver_cpu(runs: list[dict[str, Any]]) -> float | None:
    """Median share of one core the webhook receiver used over runs' publish -> last delivery."""
    shares = [(r.get("receiver") or {}).get("cpu_share_of_one_core") for r in runs]
    median = summarize([float("nan") if s is None else float(s) for s in shares])["median"]
    return None if median is None else float(median)


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
