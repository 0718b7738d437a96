"""Intake API: contacts/s and latency of POST /v1/contacts on the real service (uvicorn on loopback),
against the same route returning a constant and a bare hello-world on the same server stack, all
driven by wrk (bench/wrk.py) at the same concurrency.

    .venv/bin/python -m bench.intake_api --concurrency 16 --seconds 10
    .venv/bin/python -m bench.intake_api --serve-constant --port 8099   (the ceiling's server)

Every request is a new customer's first message (a new ticket: the full path of threading, dedupe,
categorisation, the ticket and message rows and the ticket.created outbox row). The constant app
parses and validates the same body with the same shop authentication and body-size limit
(runtime.http_api.make_api), then answers a fixed ContactAccepted: the difference is intake's work.
The hello-world (bench/hello.py) is the floor under both: the server stack with no framework.
"""

# No `from __future__ import annotations`: FastAPI must resolve the route's Annotated dependency,
# which refers to a local of constant_app().
import argparse
import asyncio
import contextlib
import json
import os
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse

from bench import hello
from bench.common import (
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
from bench.wrk import Load, drive
from runtime.http_api import make_api, shop_auth
from runtime.shops import Shop, ShopRegistry
from services.intake.api import MAX_BODY_BYTES
from services.intake.api_models import ContactAccepted, ContactSubmission

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


async def run_intake(memory: PeakMemory, load: Load, repeats: int) -> list[dict[str, Any]]:
    settings = isolated_settings("intake")
    await provision(settings, ("intake",))
    port = free_port()
    process = ServiceProcess(
        "services.intake", service_env(settings.for_service("intake"), port), port, memory, "intake (api)"
    )
    try:
        await process.start()
        return [await drive(process.base, process.pid, load) for _ in range(repeats)]
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
    intake = await run_intake(memory, load, repeats)
    constant = await run_constant(memory, load, repeats)
    bare = await run_hello(memory, load, repeats)
    return {
        "benchmark": "intake_api",
        "concurrency": concurrency,
        "seconds": seconds,
        "intake": side(intake),
        "constant": side(constant),
        "hello_world": side(bare),
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
    args = parser.parse_args()
    if args.serve_constant:
        serve_constant(args.port or free_port())
        return
    memory = PeakMemory()
    with contextlib.suppress(KeyboardInterrupt):
        result = asyncio.run(run(args.concurrency, args.seconds, args.repeats, memory))
        result["peak_rss_kib"] = memory.peaks_kib
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
