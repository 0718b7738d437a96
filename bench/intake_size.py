"""`make bench`'s contact rate at the shop's size: `POST /v1/contacts` on an intake whose schema is
pre-filled with a large shop's history (bench/intake_prefill.py) beside one whose schema is empty,
under the same wrk load (bench/wrk.py) as the intake figures: the rate must not fall as the shop grows."""

from __future__ import annotations

from typing import Any, Protocol

import asyncpg

from bench.common import (
    PeakMemory,
    ServiceProcess,
    cleanup,
    free_port,
    isolated_settings,
    provision,
    service_env,
    summarize,
)
from bench.intake_prefill import Prefill, prefill
from bench.report import LoadCpu, Report
from bench.wrk import Load, drive
from runtime.settings import Settings

TARGET_SHARE_OF_EMPTY = 0.9
"""The rate on the pre-filled schema against the rate on the empty one: a contact's lookups are index
lookups on the customer's and the thread's own entries, so the shop's size must not show."""
TARGET_P99_MS = 50.0
FIGURES = ("intake.prefilled.contacts_per_s", "intake.prefilled.p99_ms")


class SizePlan(Protocol):
    """The part of bench.plan.Plan this scenario reads."""

    @property
    def repeats(self) -> int: ...

    @property
    def intake_concurrency(self) -> int: ...

    @property
    def intake_seconds(self) -> float: ...

    @property
    def wrk_threads(self) -> int: ...

    @property
    def intake_prefill_tickets(self) -> int: ...

    @property
    def intake_prefill_shops(self) -> int: ...

    @property
    def intake_prefill_share(self) -> float: ...


def run_order(repeats: int) -> list[str]:
    """Empty, pre-filled, pre-filled, empty, ...: each side `repeats` runs, a drift over the runs
    falling on both alike."""
    pairs = [("empty", "prefilled") if k % 2 == 0 else ("prefilled", "empty") for k in range(repeats)]
    return [name for pair in pairs for name in pair]


async def checkpoint(settings: Settings) -> bool:
    """Write the prefill's pages out now, not during a measured run (needs the admin role; without
    it, the runs may pay for it and the note says so)."""
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        await conn.execute("CHECKPOINT")
    except asyncpg.PostgresError:
        return False
    finally:
        await conn.close()
    return True


async def measure(plan: SizePlan, memory: PeakMemory) -> dict[str, Any]:
    """Two intake processes, each on its own schema: one left empty, one pre-filled; after a
    checkpoint and a discarded round, wrk runs on them in turn (run_order), so warming up and the
    machine's drift fall on both sides alike. The empty schema keeps its runs' contacts (thousands)."""
    load = Load("contacts", plan.intake_concurrency, plan.intake_seconds, threads=plan.wrk_threads)
    shape = Prefill(plan.intake_prefill_tickets, plan.intake_prefill_shops, plan.intake_prefill_share)
    sides = {"empty": isolated_settings("iempty"), "prefilled": isolated_settings("ifull")}
    processes: dict[str, ServiceProcess] = {}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    try:
        for name, settings in sides.items():
            await provision(settings, ("intake",))
            port = free_port()
            service = settings.for_service("intake")
            processes[name] = ServiceProcess(
                "services.intake", service_env(service, port), port, memory, f"intake (shop size, {name})"
            )
            await processes[name].start()  # it migrates its schema on start, before the prefill
        filled = await prefill(sides["prefilled"].for_service("intake"), shape)
        filled["checkpoint"] = await checkpoint(sides["prefilled"])
        for name in ("empty", "prefilled"):  # a round of warm-up, discarded
            await drive(processes[name].base, processes[name].pid, load)
        for name in run_order(plan.repeats):
            runs[name].append(await drive(processes[name].base, processes[name].pid, load))
    finally:
        for process in processes.values():
            await process.stop()
        for settings in sides.values():
            await cleanup(settings, ("intake",))
    return {"load": load.__dict__, "prefill": filled, **runs}


def set_figures(report: Report, result: dict[str, Any]) -> None:
    empty, full = result["empty"], result["prefilled"]
    filled = result["prefill"]

    def rates(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return summarize([r["ok_per_second"] for r in runs])

    def p99s(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return summarize([r["latency_ms"]["p99"] for r in runs])

    def wrk(runs: list[dict[str, Any]]) -> float | None:
        value = summarize([r["generator"]["cpu_share_of_one_core"] for r in runs])["median"]
        return None if value is None else float(value)

    failed = sum(r["status_400_or_more"] + r["errors"] for r in empty + full)
    note = (
        f"{filled['tickets']:,} tickets of {filled['shops']} shops pre-filled, "
        f"{filled['demo_shop_tickets']:,} of them the loaded shop's; rows {filled['rows']}; "
        f"insert {filled['insert_seconds']} s, VACUUM ANALYZE {filled['vacuum_analyze_seconds']} s, "
        f"{'a CHECKPOINT' if filled['checkpoint'] else 'no CHECKPOINT (not permitted)'} before the runs; "
        f"wrk runs alternating with the empty schema's intake; answers >= 400 and socket errors {failed}"
    )
    cpu = LoadCpu("wrk", wrk(full), wrk(empty))
    value, ceiling = rates(full), rates(empty)
    met = None
    if value["median"] is not None and ceiling["median"]:
        met = value["median"] >= TARGET_SHARE_OF_EMPTY * ceiling["median"]
    report.set("intake.prefilled.contacts_per_s", value, ceiling, note=note, target_met=met, load_cpu=cpu)
    p99 = p99s(full)
    report.set(
        "intake.prefilled.p99_ms",
        p99,
        p99s(empty),
        target_met=None if p99["median"] is None else p99["median"] < TARGET_P99_MS,
        load_cpu=cpu,
    )


async def intake_size(plan: SizePlan, report: Report, memory: PeakMemory) -> None:
    result = await measure(plan, memory)
    report.scenarios["intake_size"] = result
    set_figures(report, result)
