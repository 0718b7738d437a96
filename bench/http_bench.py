"""`make bench`'s HTTP scenarios: intake's POST /v1/contacts and the survey's GET /s/{token}, each
beside the same route returning a constant and a bare hello-world on the same server stack, and
intake's Shopify adapter beside its route returning a constant, all driven by wrk at the same
concurrency (bench/wrk.py), with wrk's CPU beside every figure."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Protocol

from bench import intake_api, survey_page
from bench.common import PeakMemory, summarize
from bench.report import LoadCpu, Report
from bench.shopify_orders import TOPIC, Deliveries
from bench.wrk import Load, random_tokens, write_tokens

TARGET_INTAKE_SHARE = 0.3
TARGET_INTAKE_P99_MS = 50.0
TARGET_SURVEY_SHARE = 0.6
SHOPIFY_FIGURES = ("intake.shopify.deliveries_per_s", "intake.shopify.p99_ms")


class HttpPlan(Protocol):
    """The part of bench.plan.Plan these scenarios read."""

    @property
    def repeats(self) -> int: ...

    @property
    def intake_concurrency(self) -> int: ...

    @property
    def intake_seconds(self) -> float: ...

    @property
    def survey_concurrency(self) -> int: ...

    @property
    def survey_seconds(self) -> float: ...

    @property
    def survey_tokens(self) -> int: ...

    @property
    def wrk_threads(self) -> int: ...

    @property
    def shopify_file_rate(self) -> float: ...


def rates(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return summarize([r["ok_per_second"] for r in runs])


def p99s(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return summarize([r["latency_ms"]["p99"] for r in runs])


def wrk_cpu(runs: list[dict[str, Any]], ceiling_runs: list[dict[str, Any]]) -> LoadCpu:
    def median(of: list[dict[str, Any]]) -> float | None:
        value = summarize([r["generator"]["cpu_share_of_one_core"] for r in of])["median"]
        return None if value is None else float(value)

    return LoadCpu("wrk", median(runs), median(ceiling_runs))


def load_note(load: Load, runs: list[dict[str, Any]]) -> str:
    """How the figure was loaded, what failed, and where the CPU went (the raw runs hold the rest)."""
    failed = sum(r["status_400_or_more"] + r["errors"] for r in runs)
    server = summarize([r["server"]["cpu_share_of_one_core"] for r in runs])["median"]
    return (
        f"wrk, {load.threads} thread(s), {load.concurrency} connections, {load.seconds:g} s per run "
        f"after a {load.warmup:g} s warm-up; answers >= 400 and socket errors {failed}; "
        f"server CPU {server} of a core (median)"
    )


def postgres_note(postgres: dict[str, Any]) -> str:
    """Statements per request and the costliest ones' mean time (pg_stat_statements)."""
    if "unavailable" in postgres:
        return str(postgres["unavailable"])
    costliest = "; ".join(
        f"{s['calls_per_request']} per request of `{s['statement'][:48]}...` at {s['mean_ms']} ms"
        for s in postgres["top"][:3]
    )
    return f"Postgres: {postgres['statements_per_request']} statements per request; costliest: {costliest}"


async def intake(plan: HttpPlan, report: Report, memory: PeakMemory) -> None:
    load = Load("contacts", plan.intake_concurrency, plan.intake_seconds, threads=plan.wrk_threads)
    bare = await intake_api.run_hello(memory, load, plan.repeats)
    constant = await intake_api.run_constant(memory, load, plan.repeats)
    report.scenarios["intake_api"] = {"load": load.__dict__, "hello_world": bare, "constant": constant}
    report.set(
        "intake.constant_route_per_s",
        rates(constant),
        rates(bare),
        note=load_note(load, constant),
        load_cpu=wrk_cpu(constant, bare),
    )
    real, postgres = await intake_api.run_intake(memory, load, plan.repeats)
    report.scenarios["intake_api"] |= {"intake": real, "postgres": postgres}
    value, ceiling = rates(real), rates(constant)
    met = None
    if value["median"] is not None and ceiling["median"]:
        met = value["median"] >= TARGET_INTAKE_SHARE * ceiling["median"]
    report.set(
        "intake.contacts_per_s",
        value,
        ceiling,
        note=load_note(load, real)
        + "; every request a new customer's first message (a new ticket); "
        + postgres_note(postgres),
        target_met=met,
        load_cpu=wrk_cpu(real, constant),
    )
    p99 = p99s(real)
    report.set(
        "intake.p99_ms",
        p99,
        p99s(constant),
        target_met=None if p99["median"] is None else p99["median"] < TARGET_INTAKE_P99_MS,
        load_cpu=wrk_cpu(real, constant),
    )


async def survey(plan: HttpPlan, report: Report, memory: PeakMemory) -> None:
    with tempfile.TemporaryDirectory(prefix="careloop-bench-") as directory:
        # the constant page answers any token: the same number of tokens, so wrk's work is the same
        tokens = write_tokens(Path(directory) / "tokens", random_tokens(plan.survey_tokens))
        load = Load(
            "tokens", plan.survey_concurrency, plan.survey_seconds, plan.wrk_threads, token_file=tokens
        )
        bare = await intake_api.run_hello(memory, load, plan.repeats)
        constant = await intake_api.run_constant(memory, load, plan.repeats)
    scenario: dict[str, Any] = {"load": {**load.__dict__, "token_file": None}}
    scenario |= {"tokens": plan.survey_tokens, "hello_world": bare, "constant": constant}
    report.scenarios["survey_page"] = scenario
    report.set(
        "survey.constant_page_per_s",
        rates(constant),
        rates(bare),
        note=load_note(load, constant),
        load_cpu=wrk_cpu(constant, bare),
    )
    real = await survey_page.run_survey(
        memory,
        plan.survey_concurrency,
        plan.survey_seconds,
        plan.repeats,
        plan.survey_tokens,
        plan.wrk_threads,
    )
    scenario["survey"] = real
    value, ceiling = rates(real), rates(constant)
    met = None
    if value["median"] is not None and ceiling["median"]:
        met = value["median"] >= TARGET_SURVEY_SHARE * ceiling["median"]
    handler = summarize([r["server"]["handler_mean_ms"] for r in real])["median"]
    report.set(
        "survey.requests_per_s",
        value,
        ceiling,
        note=(
            f"GET /s/{{token}}?score=9 over {plan.survey_tokens:,} sent invitations' tokens; "
            + load_note(load, real)
            + f"; the handler's own mean {handler} ms (its metrics)"
        ),
        target_met=met,
        load_cpu=wrk_cpu(real, constant),
    )
    report.set("survey.p99_ms", p99s(real), p99s(constant), load_cpu=wrk_cpu(real, constant))


def shopify_note(load: Load, runs: list[dict[str, Any]], outcomes: dict[str, int]) -> str:
    """How the adapter was loaded, and what its deliveries came to by its own metrics: all of them
    `applied` (a new order's events), unless a delivery file wrapped to repeats (duplicates)."""
    note = (
        f"every request a new order's signed {TOPIC} (its own order id, customer and event id); "
        + load_note(load, runs)
        + "; intake's deliveries by outcome, warm-ups included: "
        + (", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "none")
    )
    wrapped = sum(r["wrapped"] for r in runs)
    if wrapped or set(outcomes) - {"applied"}:
        note += (
            f"; NOT all new orders: a delivery file wrapped {wrapped} time(s) or deliveries were not "
            "applied, so part of the load took a shorter path (raise Plan.shopify_file_rate)"
        )
    return note


async def shopify(plan: HttpPlan, report: Report, memory: PeakMemory) -> None:
    """Intake's Shopify adapter and its constant route under the same signed orders/create load."""
    with tempfile.TemporaryDirectory(prefix="careloop-bench-") as directory:
        deliveries = Deliveries(Path(directory), plan.shopify_file_rate)
        load = Load(
            "signed",
            plan.intake_concurrency,
            plan.intake_seconds,
            threads=plan.wrk_threads,
            deliveries=deliveries,
        )
        constant = await intake_api.run_constant(memory, load, plan.repeats)
        real, outcomes = await intake_api.run_shopify(memory, load, plan.repeats, deliveries.secret)
    report.scenarios["intake_shopify"] = {
        "load": load.describe(),
        "constant": constant,
        "shopify": real,
        "outcomes": outcomes,
    }
    cpu = wrk_cpu(real, constant)
    report.set(
        "intake.shopify.deliveries_per_s",
        rates(real),
        rates(constant),
        note=shopify_note(load, real, outcomes),
        load_cpu=cpu,
    )
    report.set("intake.shopify.p99_ms", p99s(real), p99s(constant), load_cpu=cpu)
