"""The intake report's answer time over a large schema (issue #16), and its ceiling.

    .venv/bin/python -m bench.reports_bench --tickets 1000000 --order-events 5000000 --requests 200

Runs the real intake service (`python -m services.intake`) on a loopback port in its own topic and
schema prefix (removed afterwards), its schema pre-filled with `tickets` tickets of 200 shops
(bench/intake_prefill.py: a quarter of them the demo shop's) and what `order-events` order events leave
(bench/orders_prefill.py: the orders, "where is my order?" questions, survey answers). Then, one request
at a time after a warm-up, `GET /v1/reports/intake` over CASES (a week to a quarter, with and without
a trend, for the large shop and three small ones), over YEAR_CASES (a whole year of the large shop,
timed apart) and `GET /v1/customers/{id}` for customers of the large shop; the client's time over
loopback is the figure.

The ceiling: the same statements (services/intake/repository/reports.py, in one read-only snapshot)
sent by asyncpg straight to bare copies of the rows (only the columns they read, with the indexes of
migration 051, in a schema of their own), no HTTP, no service, no JSON: what the report costs Postgres
alone.
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.common import (
    DEMO_KEY,
    DEMO_SHOP,
    SHOPS_FILE,
    PeakMemory,
    ServiceProcess,
    cleanup,
    free_port,
    isolated_settings,
    latency_ms,
    provision,
    service_env,
)
from bench.intake_prefill import Prefill
from bench.intake_prefill import fill as fill_tickets
from bench.orders_prefill import OrderPrefill
from bench.orders_prefill import fill as fill_orders
from runtime.reports import Granularity, period_of
from runtime.settings import Settings
from runtime.shops import hash_api_key
from services.intake.repository import reports

TARGET_MS = 300.0
"""Issue #16: a report over 1,000,000 tickets and 5,000,000 order events answers in under 300 ms p99."""
WARM_UP = 5
ZONES = {
    DEMO_SHOP: "Europe/Warsaw",
    "pf-shop-001": "Europe/Warsaw",
    "pf-shop-077": "Europe/London",
    "pf-shop-150": "America/New_York",
}
SMALL_SHOPS = tuple(s for s in ZONES if s != DEMO_SHOP)
"""Shops of the prefill besides the demo shop, each given a key and a zone in the run's shops file."""
CASES: tuple[dict[str, str], ...] = (
    {},  # the last 30 days
    {"granularity": "day"},
    {"from": "-7", "granularity": "day"},
    {"from": "-90", "granularity": "week"},
)
"""The timed reports up to a quarter, for every shop ("from": days before now; the rest as the API
takes them)."""
YEAR_CASES: tuple[dict[str, str], ...] = ({"from": "-365", "granularity": "month"}, {"from": "-365"})
"""A whole year of the large shop, timed apart: the limit of reading rows rather than rollups."""
BARE = {
    "tickets": (
        "id, shop_id, status, channel, category, is_repeat, reopen_count, fcr, created_at, "
        "first_response_at, solved_at, closed_at",
        (
            "(shop_id, created_at) INCLUDE (id, channel, category, is_repeat)",
            "(shop_id, first_response_at) INCLUDE (created_at) WHERE first_response_at IS NOT NULL",
            "(shop_id, solved_at) INCLUDE (created_at, fcr, reopen_count) WHERE solved_at IS NOT NULL",
            "(shop_id, (coalesce(solved_at, closed_at))) WHERE status IN ('solved', 'closed')",
            "(shop_id, status)",
        ),
    ),
    "messages": (
        "shop_id, ticket_id, author, channel, at",
        ("(shop_id, at) INCLUDE (channel, ticket_id) WHERE author = 'customer'",),
    ),
    "wismo_contacts": ("shop_id, at, answer_message_id, outcome", ("(shop_id, at)",)),
}
"""The bare copies: table -> (the columns the statements read, their indexes: migration 051's and
the backlog's status index, nothing else)."""


def key_of(shop: str) -> str:
    return DEMO_KEY if shop == DEMO_SHOP else f"clk_bench_{shop.replace('-', '_')}_0123456789abcdef"


def shops_file() -> Path:
    """The local demo shops and the small shops of the prefill, each with its key."""
    shops = json.loads(SHOPS_FILE.read_text())["shops"]
    shops += [
        {"id": s, "name": s, "api_key_sha256": hash_api_key(key_of(s)), "timezone": ZONES[s], "locale": "en"}
        for s in SMALL_SHOPS
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="careloop-bench-shops-", delete=False) as f:
        json.dump({"shops": shops}, f)
    return Path(f.name)


def params(case: dict[str, str], now: datetime) -> dict[str, str]:
    """The case's query: "from" as the date that many days before `now`."""
    out = dict(case)
    if "from" in out:
        out["from"] = (now + timedelta(days=int(out["from"]))).date().isoformat()
    return out


def customers_of_the_large_shop(orders: OrderPrefill, count: int) -> list[str]:
    """Customer ids of the demo shop's (bench/orders_prefill.py: customer c is its when c % 1000 < 250)."""
    customers = [c for c in range(orders.orders // 4) if c % 1000 < orders.tickets.demo_per_mille]
    return [f"pf-c-{c}" for c in random.Random(3).sample(customers, min(count, len(customers)))]


def requests_plan(
    requests: int, shops: tuple[str, ...], cases: tuple[dict[str, str], ...], seed: int = 7
) -> list[tuple[str, dict[str, str]]]:
    """Which shop and case each timed request asks for: every case for every shop in turn, shuffled
    the same way in every run."""
    plan = [(shops[n % len(shops)], cases[(n // len(shops)) % len(cases)]) for n in range(requests)]
    random.Random(seed).shuffle(plan)
    return plan


Timed = list[tuple[str, float]]
"""(what was asked, seconds) of each timed request."""


def label(shop: str, case: dict[str, str]) -> str:
    size = "large" if shop == DEMO_SHOP else "small"
    return f"{size} shop, {-int(case.get('from', '-30'))} days, {case.get('granularity', 'no trend')}"


def by_label(timed: Timed) -> dict[str, dict[str, float | None]]:
    """Each kind of request's own percentiles (how the mix's p99 comes about)."""
    kinds: dict[str, list[float]] = {}
    for name, seconds in timed:
        kinds.setdefault(name, []).append(seconds)
    return {name: latency_ms(sorted(values)) for name, values in sorted(kinds.items())}


def overall(timed: Timed) -> dict[str, float | None]:
    return latency_ms(sorted(seconds for _, seconds in timed))


async def time_requests(client: httpx.AsyncClient, asks: list[tuple[str, str, dict[str, str], str]]) -> Timed:
    """(shop, path, query, label) one at a time; the seconds of each after the first WARM_UP."""
    timed: Timed = []
    for n, (shop, path, query, name) in enumerate(asks):
        started = time.perf_counter()
        response = await client.get(path, params=query, headers={"Authorization": f"Bearer {key_of(shop)}"})
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{path} {query}: {response.status_code} {response.text[:200]}")
        if n >= WARM_UP:
            timed.append((name, elapsed))
    return timed


def report_asks(
    plan: list[tuple[str, dict[str, str]]], now: datetime
) -> list[tuple[str, str, dict[str, str], str]]:
    return [(shop, "/v1/reports/intake", params(case, now), label(shop, case)) for shop, case in plan]


async def bare_copies(admin: asyncpg.Connection, schema: str, bare: str) -> None:
    await admin.execute(f'CREATE SCHEMA "{bare}"')
    for table, (columns, indexes) in BARE.items():
        copy = f'CREATE TABLE "{bare}".{table} AS SELECT {columns} FROM "{schema}".{table}'  # noqa: S608
        await admin.execute(copy)  # names and columns: this module's constants and the run's schemas
        for n, index in enumerate(indexes):
            await admin.execute(f'CREATE INDEX {table}_{n} ON "{bare}".{table} {index}')
        await admin.execute(f'VACUUM ANALYZE "{bare}".{table}')


async def ceiling(admin: asyncpg.Connection, bare: str, plan: list[tuple[str, dict[str, str]]]) -> Timed:
    """The report's statements on the bare copies, straight from asyncpg, one report at a time."""
    await admin.execute(f'SET search_path = "{bare}"')
    timed: Timed = []
    now = datetime.now(UTC)
    for n, (shop, case) in enumerate(plan):
        query = params(case, now)
        granularity = Granularity(query["granularity"]) if "granularity" in query else None
        period = period_of(query.get("from"), None, granularity, ZONES[shop], now)
        started = time.perf_counter()
        await reports.counts(admin, shop, period)
        if n >= WARM_UP:
            timed.append((label(shop, case), time.perf_counter() - started))
    return timed


async def run(tickets: int, order_events: int, requests: int) -> dict[str, Any]:
    settings = isolated_settings("reports").model_copy(update={"shops_file": shops_file()})
    service = settings.for_service("intake")
    shape = Prefill(tickets)
    orders = OrderPrefill(order_events, shape)
    await provision(settings, ("intake",))
    port = free_port()
    # No housekeeping sweep while timing: it would spend the run closing the prefill's long-solved
    # tickets (a real shop's were closed long ago), writing the tables the reports read.
    env = {**service_env(service, port), "INTAKE_HOUSEKEEPING_SECONDS": "86400"}
    process = ServiceProcess("services.intake", env, port, PeakMemory(), "intake (reports)")
    bare = f"{service.db_schema}_bare"
    admin = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        await process.start()  # it migrates its schema on start, before the rows can go in
        filled = await prefill(service, shape, orders)
        await bare_copies(admin, service.db_schema, bare)  # reading every table: both sides warm
        plan = requests_plan(requests + WARM_UP, (DEMO_SHOP, *SMALL_SHOPS), CASES)
        year_plan = requests_plan(max(10, requests // 5) + WARM_UP, (DEMO_SHOP,), YEAR_CASES)
        now = datetime.now(UTC)
        async with httpx.AsyncClient(base_url=process.base, timeout=60.0) as client:
            report = await time_requests(client, report_asks(plan, now))
            year = await time_requests(client, report_asks(year_plan, now))
            customers = customers_of_the_large_shop(orders, requests + WARM_UP)
            customer_360 = await time_requests(
                client, [(DEMO_SHOP, f"/v1/customers/{c}", {}, "360") for c in customers]
            )
        bare_report = await ceiling(admin, bare, plan)
        bare_year = await ceiling(admin, bare, year_plan)
    finally:
        await process.stop()
        await admin.execute(f'DROP SCHEMA IF EXISTS "{bare}" CASCADE')
        await admin.close()
        await cleanup(settings, ("intake",))
        await asyncio.to_thread(Path(settings.shops_file).unlink, missing_ok=True)
    p99 = overall(report)["p99"]
    return {
        "benchmark": "reports",
        "prefill": filled,
        "requests": requests,
        "cases": [dict(c) for c in CASES],
        "year_cases": [dict(c) for c in YEAR_CASES],
        "shops": [DEMO_SHOP, *SMALL_SHOPS],
        "report_ms": overall(report),
        "ceiling_ms": overall(bare_report),
        "year_ms": overall(year),
        "year_ceiling_ms": overall(bare_year),
        "customer_360_ms": overall(customer_360),
        "by_case_ms": by_label(report + year),
        "ceiling_by_case_ms": by_label(bare_report + bare_year),
        "target_ms": TARGET_MS,
        "meets_target": p99 is not None and p99 < TARGET_MS,
    }


async def prefill(service: Settings, shape: Prefill, orders: OrderPrefill) -> dict[str, Any]:
    conn = await asyncpg.connect(service.service_dsn(), server_settings={"search_path": service.db_schema})
    try:
        now = datetime.now(UTC)
        return {
            "tickets": await fill_tickets(conn, shape, now),
            "orders": await fill_orders(conn, orders, now),
        }
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--order-events", type=int, default=5_000_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.tickets, args.order_events, args.requests)), indent=2))


if __name__ == "__main__":
    main()
