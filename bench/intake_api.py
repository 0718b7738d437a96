"""Intake API: contacts/s and latency of POST /v1/contacts on the real service (uvicorn on loopback),
against the same route returning a constant and a bare hello-world on the same server stack, all
driven by wrk (bench/wrk.py) at the same concurrency.

    .venv/bin/python -m bench.intake_api --concurrency 16 --seconds 10
    .venv/bin/python -m bench.intake_api --serve-constant --port 8099   (the ceiling's server)
    .venv/bin/python -m bench.intake_api --shopify --seconds 5          (the Shopify adapter's pair)

Every request is a new customer's first message (a new ticket: the full path of threading, dedupe,
categorisation, the ticket and message rows and the ticket.created outbox row). The constant app
parses and validates the same body with the same shop authentication and body-size limit
(runtime.http_api.make_api), then answers a fixed ContactAccepted: the difference is intake's work.
The hello-world (bench/hello.py) is the floor under both: the server stack with no framework.

The Shopify adapter (`POST /v1/platforms/shopify/{shop}`) is loaded the same way with signed
`orders/create` deliveries (bench/shopify_orders.py); its constant route reads the same raw body on
the same path and answers the adapter's fixed 200 `{"outcome": "applied"}`, checking no signature.
"""

# No `from __future__ import annotations`: FastAPI must resolve the route's Annotated dependency,
# which refers to a local of constant_app().
import argparse
import asyncio
import contextlib
import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from prometheus_client.parser import text_string_to_metric_families

from bench import hello, statements
from bench.common import (
    DEMO_KEY,
    SHOPS_FILE,
    PeakMemory,
    ServiceProcess,
    cleanup,
    free_port,
    isolated_settings,
    provision,
    service_env,
    summarize,
)
from bench.shopify_orders import Deliveries
from bench.wrk import Load, drive, wrk_once
from runtime.http_api import make_api, shop_auth
from runtime.shops import Shop, ShopRegistry
from services.intake.api import MAX_BODY_BYTES
from services.intake.api_models import ContactAccepted, ContactSubmission
from services.intake.domain.platforms.deliveries import Outcome
from services.intake.platforms_api import Answer

DELIVERIES_METRIC = "careloop_intake_platform_deliveries_total"

SURVEY_PAGE_BYTES = 4096
"""Size of the constant answer page, about what the real survey page renders."""
CONSTANT_PAGE = (
    "<!doctype html><html><head><title>ok</title></head><body>"
    + "x" * (SURVEY_PAGE_BYTES - 80)
    + "</body></html>"
)


def constant_app() -> FastAPI:
    """The ceiling: same make_api middleware, same auth and body model, no work behind the route."""
    api = make_api("bench", "constant", "benchmark ceiling", max_body_bytes=MAX_BODY_BYTES)
    current_shop = shop_auth(ShopRegistry.from_file(SHOPS_FILE), "bench")
    accepted = ContactAccepted(outcome="created", ticket_id="t-constant", message_id="m-constant")

    @api.post("/v1/contacts", status_code=201)
    async def post_contact(
        submission: ContactSubmission, shop: Annotated[Shop, Depends(current_shop)]
    ) -> ContactAccepted:
        return accepted

    applied = Answer(outcome=Outcome.APPLIED)

    @api.post("/v1/platforms/shopify/{shop_id}", response_model=Answer)
    async def shopify_delivery(shop_id: str, request: Request) -> Answer:
        await request.body()  # the adapter reads the raw body before anything else
        return applied

    @api.get("/s/{token}")
    async def answer_page(token: str) -> HTMLResponse:
        return HTMLResponse(CONSTANT_PAGE)

    @api.get("/health/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    return api


def serve_constant(port: int) -> None:
    hello.serve(constant_app(), port)


async def run_served(
    module: str,
    env: dict[str, str],
    label: str,
    memory: PeakMemory,
    load: Load,
    repeats: int,
    args: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """Start a server process on a free port (`args` may name it with {port}), drive it with wrk
    `repeats` times, stop it."""
    port = free_port()
    process = ServiceProcess(module, env, port, memory, label, args=tuple(a.format(port=port) for a in args))
    await process.start()
    try:
        return [await drive(process.base, process.pid, load) for _ in range(repeats)]
    finally:
        await process.stop()


async def run_constant(memory: PeakMemory, load: Load, repeats: int) -> list[dict[str, Any]]:
    """The constant app: POST /v1/contacts for a contacts load, GET /s/{token} for a tokens load."""
    return await run_served(
        "bench.intake_api",
        {**os.environ},
        "constant app (ceiling)",
        memory,
        load,
        repeats,
        ("--serve-constant", "--port", "{port}"),
    )


async def run_hello(memory: PeakMemory, load: Load, repeats: int) -> list[dict[str, Any]]:
    """The bare hello-world ASGI app under the same load (it reads the body and answers 200)."""
    return await run_served(
        "bench.hello", {**os.environ}, "hello-world (ceiling)", memory, load, repeats, ("--port", "{port}")
    )


async def run_intake(
    memory: PeakMemory, load: Load, repeats: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The measured runs, and what they asked of Postgres (bench/statements.py). A warm-up first,
    then the statistics autovacuum would have gathered by then (`statements.analyze`)."""
    settings = isolated_settings("intake")
    await provision(settings, ("intake",))
    port = free_port()
    process = ServiceProcess(
        "services.intake", service_env(settings.for_service("intake"), port), port, memory, "intake (api)"
    )
    try:
        await process.start()
        if load.warmup > 0:
            await wrk_once(process.base, load, load.warmup)
        await statements.analyze(settings, ("intake",))
        unavailable = await statements.reset(settings)
        measured = replace(load, warmup=0)
        runs = [await drive(process.base, process.pid, measured) for _ in range(repeats)]
        served = sum(r["requests"] for r in runs)
        postgres = (
            {"unavailable": unavailable}
            if unavailable
            else await statements.profile(settings, "intake", per=served)
        )
        return runs, postgres
    finally:
        await process.stop()
        await cleanup(settings, ("intake",))


def delivery_outcomes(metrics_text: str, platform: str = "shopify") -> dict[str, int]:
    """The adapter's deliveries by outcome, from intake's /metrics text."""
    found: dict[str, int] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == DELIVERIES_METRIC and sample.labels.get("platform") == platform:
                outcome = sample.labels["outcome"]
                found[outcome] = found.get(outcome, 0) + int(sample.value)
    return found


async def run_shopify(
    memory: PeakMemory, load: Load, repeats: int, secret: str
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """intake on its own schema, the shop's Shopify `secret` registered through the API, under the
    signed load; with its deliveries by outcome over all the runs (warm-ups included)."""
    settings = isolated_settings("shopify")
    await provision(settings, ("intake",))
    port = free_port()
    process = ServiceProcess(
        "services.intake", service_env(settings.for_service("intake"), port), port, memory, "intake (api)"
    )
    try:
        await process.start()
        async with httpx.AsyncClient(base_url=process.base, timeout=10.0) as client:
            answer = await client.post(
                "/v1/platforms/secrets",
                json={"platform": "shopify", "secret": secret},
                headers={"Authorization": f"Bearer {DEMO_KEY}"},
            )
            answer.raise_for_status()
            runs = [await drive(process.base, process.pid, load) for _ in range(repeats)]
            outcomes = delivery_outcomes((await client.get("/metrics")).text)
        return runs, outcomes
    finally:
        await process.stop()
        await cleanup(settings, ("intake",))


def side(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One server's figures over its runs, with wrk's and the server's CPU beside them."""
    return {
        "ok_per_second": summarize([r["ok_per_second"] for r in runs]),
        "p99_ms": summarize([r["latency_ms"]["p99"] for r in runs]),
        "generator_cpu_share_of_one_core": summarize([r["generator"]["cpu_share_of_one_core"] for r in runs]),
        "server_cpu_share_of_one_core": summarize([r["server"]["cpu_share_of_one_core"] for r in runs]),
        "runs": runs,
    }


async def run(concurrency: int, seconds: float, repeats: int, memory: PeakMemory) -> dict[str, Any]:
    load = Load("contacts", concurrency, seconds)
    intake, postgres = await run_intake(memory, load, repeats)
    constant = await run_constant(memory, load, repeats)
    bare = await run_hello(memory, load, repeats)
    return {
        "benchmark": "intake_api",
        "concurrency": concurrency,
        "seconds": seconds,
        "intake": side(intake),
        "postgres": postgres,
        "constant": side(constant),
        "hello_world": side(bare),
    }


async def run_shopify_pair(
    concurrency: int, seconds: float, repeats: int, per_second: float, memory: PeakMemory
) -> dict[str, Any]:
    """The Shopify adapter and its constant route under the same signed load (`--shopify`)."""
    with tempfile.TemporaryDirectory(prefix="careloop-bench-") as directory:
        deliveries = Deliveries(Path(directory), per_second)
        load = Load("signed", concurrency, seconds, deliveries=deliveries)
        adapter, outcomes = await run_shopify(memory, load, repeats, deliveries.secret)
        constant = await run_constant(memory, load, repeats)
    return {
        "benchmark": "intake_shopify",
        "concurrency": concurrency,
        "seconds": seconds,
        "shopify": side(adapter),
        "outcomes": outcomes,
        "constant": side(constant),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--serve-constant", action="store_true", help="serve the constant app only")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--shopify", action="store_true", help="the Shopify adapter and its ceiling")
    parser.add_argument("--deliveries-per-second", type=float, default=2000.0)
    args = parser.parse_args()
    if args.serve_constant:
        serve_constant(args.port or free_port())
        return
    memory = PeakMemory()
    with contextlib.suppress(KeyboardInterrupt):
        if args.shopify:
            pair = run_shopify_pair(
                args.concurrency, args.seconds, args.repeats, args.deliveries_per_second, memory
            )
            result = asyncio.run(pair)
        else:
            result = asyncio.run(run(args.concurrency, args.seconds, args.repeats, memory))
        result["peak_rss_kib"] = memory.peaks_kib
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
