"""`make bench`: every scenario on the real stack, each figure beside its ceiling, in one report.

    .venv/bin/python -m bench.run            the full run (about 30 minutes on 2 cores)
    .venv/bin/python -m bench.run --quick    a smoke run with small sizes (about 3 minutes)

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

from bench import (
    e2e_scenario,
    http_bench,
    ingest,
    intake_size,
    reports_scenario,
    sla_scenario,
    wismo_scenario,
    workspace_scenario,
)
from bench.common import (
    ROOT,
    SERVICES,
    MissingScript,
    PeakMemory,
    run_json_script,
    services_elsewhere,
    summarize,
)
from bench.facts import git_commit, machine, versions
from bench.plan import FULL, QUICK, Plan
from bench.report import E2E_LOADS, SLA_CLOCKS, Report
from runtime.settings import Settings

log = logging.getLogger("bench")

TARGET_INGEST_SHARE = 0.5
TARGET_RSS_MIB = 100.0


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

    # -- end to end (bench/e2e_scenario.py) ----------------------------------------------------
    async def webhooks(self, rate: float, events: int, wait: float | None = None) -> dict[str, Any]:
        """bench/webhooks.py at `rate` for `events`, waiting up to `wait` seconds for deliveries."""
        wait = max(30.0, events / 200) if wait is None else wait
        return await self.script(
            "bench.webhooks",
            *("--events", str(events), "--rate", str(rate), "--timeout", str(wait)),
            label="webhooks.py (notify in-process)",
            timeout=self.script_limit(rate, events, wait),
        )

    async def pipeline(self, rate: float, events: int, wait: float | None = None) -> dict[str, Any]:
        wait = max(30.0, events / 200) if wait is None else wait
        return await self.script(
            "bench.ceilings",
            "pipeline",
            *("--events", str(events), "--rate", str(rate), "--timeout", str(wait)),
            label="bare pipeline (ceiling)",
            timeout=self.script_limit(rate, events, wait),
        )

    def script_limit(self, rate: float, events: int, wait: float) -> float:
        """Publishing, waiting for the deliveries and two minutes to start and stop."""
        return max(self.plan.script_timeout, events / rate + wait + 120.0)

    async def e2e(self) -> None:
        await e2e_scenario.e2e(self)

    async def ladder(
        self, probe: Callable[[float, int], Awaitable[dict[str, Any]]], log_to: dict[str, Any], name: str
    ) -> float:
        return await e2e_scenario.ladder(self, probe, log_to, name)

    async def scale(self) -> None:
        await e2e_scenario.scale(self)

    # -- HTTP: intake API and survey page (bench/http_bench.py) ----------------------------------
    async def intake(self) -> None:
        await http_bench.intake(self.plan, self.report, self.memory)

    async def intake_shopify(self) -> None:
        await http_bench.shopify(self.plan, self.report, self.memory)

    async def intake_size(self) -> None:
        await intake_size.intake_size(self.plan, self.report, self.memory)

    async def survey(self) -> None:
        await http_bench.survey(self.plan, self.report, self.memory)

    # -- SLA timers (bench/sla_scenario.py) -----------------------------------------------------
    async def sla(self) -> None:
        await sla_scenario.sla(self)

    # -- automatic answers and the workspace (bench/wismo_scenario.py, bench/workspace_scenario.py)
    async def wismo(self) -> None:
        await wismo_scenario.wismo(self)

    async def workspace(self) -> None:
        await workspace_scenario.workspace(self)

    # -- the intake report and the customer 360 (bench/reports_scenario.py) ---------------------
    async def reports(self) -> None:
        await reports_scenario.reports(self)

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
                target_met=max(own.values()) / 1024 < TARGET_RSS_MIB,
            )


SCENARIOS: dict[str, tuple[str, ...]] = {
    "ingest": tuple(f"ingest.{s}" for s in SERVICES),
    "e2e": (
        *(f"e2e.{load}.{p}_ms" for load in E2E_LOADS for p in ("p50", "p95", "p99")),
        "e2e.max_sustainable_rate",
        *e2e_scenario.OVERLOAD_FIGURES,
    ),
    "scale": e2e_scenario.SCALE_FIGURES,
    "intake": ("intake.contacts_per_s", "intake.p99_ms", "intake.constant_route_per_s"),
    "intake_shopify": http_bench.SHOPIFY_FIGURES,
    "intake_size": intake_size.FIGURES,
    "sla": (*(f"sla.lag_p99_ms.{c}" for c in SLA_CLOCKS), "sla.drained_per_s"),
    "survey": ("survey.requests_per_s", "survey.p99_ms", "survey.constant_page_per_s"),
    "wismo": wismo_scenario.FIGURES,
    "workspace": workspace_scenario.FIGURES,
    "reports": reports_scenario.FIGURES,
    "memory": tuple(f"memory.{s}_mib" for s in SERVICES),
}


IN_PROCESS = ("e2e", "sla")
"""Scenarios whose services (or part of them) run inside the bench's own process, from this checkout."""
IN_PROCESS_REASON = (
    "runs this checkout's code in the bench's process: not measurable from CARELOOP_BENCH_CHECKOUT"
)


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
        "intake_shopify": bench.intake_shopify,
        "intake_size": bench.intake_size,
        "survey": bench.survey,
        "e2e": bench.e2e,
        "scale": bench.scale,
        "wismo": bench.wismo,
        "workspace": bench.workspace,
        "reports": bench.reports,
        "memory": bench.memory_figures,  # after every scenario that runs a service process
        "sla": bench.sla,  # the longest; its service runs inside sla_timers.py, not as a service process
    }
    timings: dict[str, float] = {}

    def checkpoint() -> None:
        report.facts["duration_seconds"] = round(time.monotonic() - started, 1)
        report.facts["scenario_seconds"] = timings
        report.write(out)

    bench.checkpoint = checkpoint
    elsewhere = services_elsewhere()
    for name, step in steps.items():
        if name not in only:
            report.mark_missing(list(SCENARIOS[name]), "scenario not selected (--only)")
            continue
        if elsewhere and name in IN_PROCESS:
            report.mark_missing(list(SCENARIOS[name]), IN_PROCESS_REASON)
            continue
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        begun = time.monotonic()
        try:
            await step()
        except Exception as exc:  # one broken scenario must not lose the others' figures
            log.exception("scenario %s failed", name)
            report.mark_missing(list(SCENARIOS[name]), f"scenario failed: {type(exc).__name__}: {exc}")
        report.mark_unset(list(SCENARIOS[name]), f"scenario {name} ended without measuring it")
        timings[name] = round(time.monotonic() - begun, 1)
        print(f"bench: {name} done in {timings[name]} s", file=sys.stderr, flush=True)
        checkpoint()  # after every scenario: a later crash still leaves the figures so far
    checkpoint()  # scenarios left out after the last one run are marked in the file too
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
    parser.add_argument("--intake-prefill-tickets", type=int, help="tickets pre-filled for intake_size")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"subset of {','.join(SCENARIOS)}")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    overrides = {
        "repeats": args.repeats,
        "ingest_events": args.ingest_events,
        "ingest_window": args.ingest_window,
        "e2e_repeats": args.e2e_repeats,
        "intake_prefill_tickets": args.intake_prefill_tickets,
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
