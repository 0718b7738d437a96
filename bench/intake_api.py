"""Intake API: contacts/s and latency of POST /v1/contacts on the real service (uvicorn on loopback),
against the same route returning a constant in a minimal app with the same conventions.

    .venv/bin/python -m bench.intake_api --concurrency 16 --seconds 10
    .venv/bin/python -m bench.intake_api --serve-constant --port 8099   (the ceiling's server)

Every request is a new customer's first message (a new ticket: the full path of threading, dedupe,
categorisation, the ticket and message rows and the ticket.created outbox row). The constant app
parses and validates the same body with the same shop authentication and body-size limit
(runtime.http_api.make_api), then answers a fixed ContactAccepted: the difference is intake's work.
"""

# No `from __future__ import annotations`: FastAPI must resolve the route's Annotated dependency,
# which refers to a local of constant_app().
import argparse
import asyncio
import contextlib
import json
import os
from typing import Annotated, Any

import httpx
import uvicorn
from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse

from bench.common import (
    DEMO_KEY,
    SHOPS_FILE,
    PeakMemory,
    ServiceProcess,
    cleanup,
    free_port,
    http_load,
    isolated_settings,
    provision,
    service_env,
    summarize,
)
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
    # the same uvicorn settings as runtime.service.serve
    config = uvicorn.Config(
        constant_app(), host="127.0.0.1", port=port, lifespan="on", log_config=None, access_log=False
    )
    uvicorn.Server(config).run()


def contact_body(n: int) -> dict[str, Any]:
    return {
        "channel": "web_form",
        "customer_email": f"bench.customer.{os.getpid()}.{n}@example.com",
        "customer_name": "Anna Nowak",
        "customer_locale": "pl",
        "subject": "Where is my parcel?",
        "body": f"Hello, my order has not arrived yet, could you check it please? (request {n})",
        "channel_message_id": f"bench-{os.getpid()}-{n}",
    }


async def post_contact(client: httpx.AsyncClient, n: int) -> httpx.Response:
    return await client.post(
        "/v1/contacts", json=contact_body(n), headers={"Authorization": f"Bearer {DEMO_KEY}"}
    )


async def answer_page(client: httpx.AsyncClient, n: int) -> httpx.Response:
    return await client.get(f"/s/token-{n}", params={"score": "9"})


async def run_constant(
    memory: PeakMemory, concurrency: int, seconds: float, repeats: int, path: str
) -> list[dict[str, Any]]:
    """Load on the constant app; `path` "contacts" or "page" picks the route."""
    port = free_port()
    process = ServiceProcess(
        "bench.intake_api",
        {**os.environ},
        port,
        memory,
        "constant app (ceiling)",
        args=("--serve-constant", "--port", str(port)),
    )
    await process.start()
    try:
        request = post_contact if path == "contacts" else answer_page
        return [await http_load(process.base, request, concurrency, seconds) for _ in range(repeats)]
    finally:
        await process.stop()


async def run_intake(
    memory: PeakMemory, concurrency: int, seconds: float, repeats: int
) -> list[dict[str, Any]]:
    settings = isolated_settings("intake")
    await provision(settings, ("intake",))
    port = free_port()
    process = ServiceProcess(
        "services.intake", service_env(settings.for_service("intake"), port), port, memory, "intake (api)"
    )
    try:
        await process.start()
        return [await http_load(process.base, post_contact, concurrency, seconds) for _ in range(repeats)]
    finally:
        await process.stop()
        await cleanup(settings, ("intake",))


async def run(concurrency: int, seconds: float, repeats: int, memory: PeakMemory) -> dict[str, Any]:
    intake = await run_intake(memory, concurrency, seconds, repeats)
    constant = await run_constant(memory, concurrency, seconds, repeats, "contacts")
    return {
        "benchmark": "intake_api",
        "concurrency": concurrency,
        "seconds": seconds,
        "intake": {
            "contacts_per_second": summarize([r["ok_per_second"] for r in intake]),
            "p99_ms": summarize([r["latency_ms"]["p99"] for r in intake]),
            "runs": intake,
        },
        "constant": {
            "contacts_per_second": summarize([r["ok_per_second"] for r in constant]),
            "p99_ms": summarize([r["latency_ms"]["p99"] for r in constant]),
            "runs": constant,
        },
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
