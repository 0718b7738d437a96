"""Load on the survey answer page: GET /s/{token}?score=9 from wrk at a fixed concurrency.

    .venv/bin/python -m bench.survey_page --concurrency 16 --seconds 10 --tokens 20000

Runs the real survey service (`python -m services.survey`, uvicorn) on a loopback port against the
Kafka and Postgres of KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, in its own topic and schema prefix
(removed afterwards), creates sent invitations with known tokens, writes the tokens to a file and
drives the page with wrk (bench/wrk.py), which walks the file so consecutive requests ask for
different tokens. Beside requests/s and latency: wrk's and the server's CPU, and the server's own mean
handler time from its metrics. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.common import (
    DEMO_SHOP,
    PeakMemory,
    ServiceProcess,
    cleanup,
    free_port,
    isolated_settings,
    provision,
    service_env,
)
from bench.wrk import Load, drive, write_tokens
from runtime.settings import Settings
from services.survey.domain.tokens import hash_token

COLUMNS = (
    "survey_id",
    "shop_id",
    "kind",
    "origin",
    "customer",
    "customer_id",
    "customer_email",
    "order_id",
    "locale",
    "due_at",
    "status",
    "token_sha256",
    "sent_at",
    "expires_at",
    "created_at",
)


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


async def create_tokens(settings: Settings, count: int) -> list[str]:
    """Sent invitations with known tokens, copied in as the service's own role into its schema."""
    conn = await asyncpg.connect(settings.service_dsn(), server_settings={"search_path": settings.db_schema})
    now = datetime.now(UTC)
    tokens = [secrets.token_urlsafe(32) for _ in range(count)]
    rows = [
        (
            uuid.uuid4().hex,
            DEMO_SHOP,
            "nps",
            f"order:bench-{i}",
            json.dumps({"id": f"c-{i}", "email": f"c{i}@example.com", "locale": "pl"}),
            f"c-{i}",
            f"c{i}@example.com",
            f"bench-{i}",
            "pl" if i % 2 else "en",
            now,
            "sent",
            hash_token(token),
            now,
            now + timedelta(days=30),
            now,
        )
        for i, token in enumerate(tokens)
    ]
    try:
        await conn.copy_records_to_table(
            "invitations", records=rows, columns=COLUMNS, schema_name=settings.db_schema
        )
    finally:
        await conn.close()
    return tokens


async def run_survey(
    memory: PeakMemory, concurrency: int, seconds: float, repeats: int, token_count: int, threads: int = 1
) -> list[dict[str, Any]]:
    """The survey service driven `repeats` times; each run's document has the server's mean handler
    time added under `server`."""
    settings = isolated_settings("survey")
    service = settings.for_service("survey")
    await provision(settings, ("survey",))
    port = free_port()
    process = ServiceProcess("services.survey", service_env(service, port), port, memory, "survey (page)")
    runs: list[dict[str, Any]] = []
    try:
        await process.start()  # it migrates its schema on start, before the tokens can go in
        tokens = await create_tokens(service, token_count)
        with tempfile.TemporaryDirectory(prefix="careloop-survey-") as directory:
            token_file = write_tokens(Path(directory) / "tokens", tokens)
            load = Load("tokens", concurrency, seconds, threads, token_file=token_file)
            for _ in range(repeats):
                page_sum, page_count = await server_page_seconds(process.base)
                result = await drive(process.base, process.pid, load)
                page_sum_after, page_count_after = await server_page_seconds(process.base)
                handled = max(1, page_count_after - page_count)
                result["server"]["handler_mean_ms"] = round((page_sum_after - page_sum) * 1000 / handled, 3)
                result["tokens"] = token_count
                runs.append(result)
    finally:
        await process.stop()
        await cleanup(settings, ("survey",))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=20_000)
    args = parser.parse_args()
    memory = PeakMemory()
    runs = asyncio.run(run_survey(memory, args.concurrency, args.seconds, args.repeats, args.tokens))
    document = {
        "benchmark": "survey_page",
        "what": "GET /s/{token}?score=9: token lookup in Postgres + server-rendered HTML, one uvicorn worker",
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "runs": runs,
        "peak_rss_kib": memory.peaks_kib,
    }
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
