"""Load on the survey answer page: GET /s/{token} at a fixed concurrency, requests/s and latency.

    .venv/bin/python -m bench.survey_page --concurrency 32 --seconds 15

Runs the real survey service (`python -m services.survey`, uvicorn) on a loopback port against the
Kafka and Postgres of KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, in its own topic and schema prefix
(removed afterwards), creates answer tokens, and drives it with httpx. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.common import free_port
from runtime.provision import delete_topics, drop_service_schema, ensure_service_schema, ensure_topics
from runtime.settings import Settings
from services.survey.domain.tokens import hash_token

SHOP_ID = "demo-shop"  # from deploy/local/shops.json, the service's default registry


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc): per-request CPU cost is a steadier
    figure than requests/s on a machine shared with other work."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def server_page_seconds(base: str) -> tuple[float, int]:
    """Sum and count of the server's own GET timings (careloop_survey_page_seconds)."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        text = (await client.get(f"{base}/metrics")).text
    found = {"sum": 0.0, "count": 0.0}
    for line in text.splitlines():
        for part in found:
            if line.startswith(f'careloop_survey_page_seconds_{part}{{method="GET"}}'):
                found[part] = float(line.rsplit(" ", 1)[1])
    return found["sum"], int(found["count"])


def percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values)) - 1))
    return sorted_values[index]


async def wait_ready(base: str, process: asyncio.subprocess.Process, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"survey service exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{base}/health/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.25)
    raise RuntimeError("survey service did not become ready")


async def create_tokens(settings: Settings, count: int) -> list[str]:
    """Sent invitations with known tokens, written as the service's own role into its schema."""
    conn = await asyncpg.connect(settings.service_dsn(), server_settings={"search_path": settings.db_schema})
    now = datetime.now(UTC)
    tokens = [secrets.token_urlsafe(32) for _ in range(count)]
    try:
        await conn.executemany(
            """INSERT INTO invitations (survey_id, shop_id, kind, origin, customer, customer_id,
                   customer_email, order_id, locale, due_at, status, token_sha256, sent_at, expires_at,
                   created_at)
               VALUES ($1, $2, 'nps', $3, $4::jsonb, $5, $6, $7, $8, $9, 'sent', $10, $9, $11, $9)""",
            [
                (
                    uuid.uuid4().hex,
                    SHOP_ID,
                    f"order:bench-{i}",
                    json.dumps({"id": f"c-{i}", "email": f"c{i}@example.com", "locale": "pl"}),
                    f"c-{i}",
                    f"c{i}@example.com",
                    f"bench-{i}",
                    "pl" if i % 2 else "en",
                    now,
                    hash_token(token),
                    now + timedelta(days=30),
                )
                for i, token in enumerate(tokens)
            ],
        )
    finally:
        await conn.close()
    return tokens


async def load(
    base: str, tokens: list[str], concurrency: int, seconds: float, server_pid: int
) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10.0) as client:

        async def worker(offset: int, until: float, record: bool) -> None:
            nonlocal errors
            i = offset
            while time.perf_counter() < until:
                token = tokens[i % len(tokens)]
                i += concurrency
                started = time.perf_counter()
                try:
                    response = await client.get(f"/s/{token}", params={"score": "9"})
                except httpx.HTTPError:
                    if record:
                        errors += 1
                    continue
                if record:
                    latencies.append(time.perf_counter() - started)
                    statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1

        warm_until = time.perf_counter() + 1.0
        await asyncio.gather(*(worker(w, warm_until, False) for w in range(concurrency)))
        page_sum_before, page_count_before = await server_page_seconds(base)
        cpu_before, client_cpu_before = cpu_seconds(server_pid), cpu_seconds(os.getpid())
        started = time.perf_counter()
        await asyncio.gather(*(worker(w, started + seconds, True) for w in range(concurrency)))
        elapsed = time.perf_counter() - started
        server_cpu = cpu_seconds(server_pid) - cpu_before
        client_cpu = cpu_seconds(os.getpid()) - client_cpu_before
        page_sum, page_count = await server_page_seconds(base)
    latencies.sort()
    ms = 1000.0
    return {
        "requests": len(latencies),
        "errors": errors,
        "statuses": statuses,
        "elapsed_seconds": round(elapsed, 3),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "latency_ms": {
            "p50": round(percentile(latencies, 0.50) * ms, 2),
            "p90": round(percentile(latencies, 0.90) * ms, 2),
            "p99": round(percentile(latencies, 0.99) * ms, 2),
            "max": round(latencies[-1] * ms, 2) if latencies else None,
        },
        "server": {
            "cpu_ms_per_request": round(server_cpu * ms / max(1, len(latencies)), 3),
            "cpu_share_of_one_core": round(server_cpu / elapsed, 3),
            "handler_mean_ms": round(
                (page_sum - page_sum_before) * ms / max(1, page_count - page_count_before), 3
            ),
        },
        "client": {
            # the httpx load generator shares the machine: near 1.0 means it, not the server, is the limit
            "cpu_share_of_one_core": round(client_cpu / elapsed, 3),
        },
    }


async def run(concurrency: int, seconds: float, token_count: int) -> dict[str, Any]:
    tag = f"bench{uuid.uuid4().hex[:8]}"
    settings = (
        Settings()
        .model_copy(update={"topic_prefix": f"{tag}.", "schema_prefix": f"{tag}_"})
        .for_service("survey")
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    await ensure_topics(settings.kafka_bootstrap_servers, settings.topic_prefix)
    await ensure_service_schema(settings)
    env = {
        **os.environ,
        "CARELOOP_TOPIC_PREFIX": settings.topic_prefix,
        "CARELOOP_SCHEMA_PREFIX": settings.schema_prefix,
        "CARELOOP_HTTP_PORT": str(port),
        "CARELOOP_PUBLIC_BASE_URL": base,
        "CARELOOP_LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.survey", env=env, stdout=asyncio.subprocess.DEVNULL
    )
    try:
        await wait_ready(base, process)
        tokens = await create_tokens(settings, token_count)
        result = await load(base, tokens, concurrency, seconds, process.pid)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        await drop_service_schema(settings)
        await delete_topics(settings.kafka_bootstrap_servers, settings.topic_prefix)
    return {
        "benchmark": "survey_page",
        "what": "GET /s/{token}?score=9: token lookup in Postgres + server-rendered HTML, one uvicorn worker",
        "concurrency": concurrency,
        "seconds": seconds,
        "tokens": token_count,
        "cpus": os.cpu_count(),
        **result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--tokens", type=int, default=2000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.concurrency, args.seconds, args.tokens)), indent=2))


if __name__ == "__main__":
    main()
