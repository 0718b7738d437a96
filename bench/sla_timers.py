"""Timer lag of the SLA service with N open clocks.

Inserts N running clocks (default 100,000) through the SLA repository into an isolated schema,
their breach deadlines spread evenly over a short window, then runs the real service in-process
(timer sweep, outbox relay, Kafka) and measures for every breach how late it went out:

- `sweep_lag`: the transaction that fired the timer committed this long after the deadline
  (the `careloop_sla_timer_lag_seconds` histogram, observed after each commit);
- `kafka_lag`: the sla.breached record's Kafka timestamp minus the deadline (sweep + outbox relay).

    .venv/bin/python -m bench.sla_timers --clocks 100000 [--window 60] [--lead 15]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.common import cleanup, isolated_settings, percentile, provision
from runtime.settings import Settings
from schemas import topics
from schemas.v1.sla import SlaMetric
from services.sla import metrics
from services.sla import repository as repo
from services.sla.bootstrap import build
from services.sla.domain import clocks
from services.sla.domain.calendar import CALENDAR_TIME
from services.sla.domain.policies import DEFAULT_POLICIES

SHOP = "demo-shop"
TARGET = timedelta(hours=1)
CHUNK = 5000


def open_clocks(count: int, first_deadline: datetime, window: float) -> list[repo.ClockRecord]:
    """Running chat first-response clocks, warning already sent, breaching evenly across the window.
    Each breach also raises the level-1 escalation, so two events go out per timer."""
    stages = DEFAULT_POLICIES.policies[0].stages()
    records = []
    for i in range(count):
        deadline = first_deadline + timedelta(seconds=window * i / count)
        started = deadline - TARGET
        clock = clocks.start(
            f"bench-{i}", SlaMetric.FIRST_RESPONSE, TARGET, False, stages, started, CALENDAR_TIME
        )
        clock, _ = clocks.fire_due(clock, started + TARGET * 0.8)
        records.append(repo.ClockRecord(clock, SHOP, f"ticket-{i}", "chat", "chat", "other", "normal"))
    return records


def lag_summary(lags: list[float]) -> dict[str, Any]:
    ordered = sorted(lags)
    return {
        "n": len(ordered),
        "p50": round(percentile(ordered, 0.50), 3),
        "p99": round(percentile(ordered, 0.99), 3),
        "max": round(ordered[-1], 3) if ordered else None,
        "share_within_1s": round(sum(1 for v in ordered if v <= 1.0) / len(ordered), 4) if ordered else None,
    }


def histogram_quantiles() -> dict[str, Any]:
    """p50/p99 upper bounds from the service's own breach-lag histogram (bucket resolution)."""
    buckets: list[tuple[float, float]] = []
    total = 0.0
    for family in metrics.TIMER_LAG.collect():
        for sample in family.samples:
            if sample.labels.get("timer") != "breach":
                continue
            if sample.name.endswith("_bucket"):
                buckets.append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith("_count"):
                total = sample.value
    buckets.sort()

    def upper(share: float) -> float | str | None:
        bound = next((le for le, seen in buckets if seen >= share * total), None)
        return f"> {buckets[-2][0]}" if bound == float("inf") else bound

    return {"n": int(total), "p50_at_most": upper(0.5), "p99_at_most": upper(0.99)}


async def kafka_lags(settings: Settings) -> list[float]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        name = settings.topic(topics.SLA.name)
        partitions = [TopicPartition(name, p) for p in range(topics.SLA.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        lags = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for batch in (await consumer.getmany(timeout_ms=500, max_records=10000)).values():
                for record in batch:
                    event = json.loads(record.value or b"{}")
                    if event.get("type") == "sla.breached":
                        deadline = datetime.fromisoformat(event["data"]["deadline"])
                        lags.append(record.timestamp / 1000 - deadline.timestamp())
        return lags
    finally:
        await consumer.stop()


async def run(count: int, window: float, lead: float) -> dict[str, Any]:
    settings = isolated_settings("sla").for_service("sla")
    await provision(settings, ("sla",))
    try:
        app = build(settings)
        async with app.start_lifespan_context():
            pool = app.runtime.db.pool
            load_started = time.perf_counter()
            first_deadline = datetime.now(UTC) + timedelta(seconds=lead)
            records = open_clocks(count, first_deadline, window)
            async with pool.acquire() as conn:
                for start in range(0, count, CHUNK):
                    await repo.insert_clocks(conn, records[start : start + CHUNK])
            loaded_in = time.perf_counter() - load_started
            late_start = (datetime.now(UTC) - first_deadline).total_seconds()

            async def remaining() -> int:
                return int(await pool.fetchval("SELECT count(*) FROM clocks WHERE outcome IS NULL"))

            give_up = time.monotonic() + lead + window + 30
            while time.monotonic() < give_up:
                backlog = await pool.fetchval("SELECT count(*) FROM outbox")
                if not await remaining() and not backlog:
                    break
                await asyncio.sleep(1.0)
            unfired = await remaining()
        lags = await kafka_lags(settings)
        return {
            "benchmark": "sla_timers",
            "cpus": os.cpu_count(),
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            "open_clocks": count,
            "window_seconds": window,
            "events_per_timer": 2,
            "load_seconds": round(loaded_in, 2),
            "loaded_after_first_deadline_seconds": round(max(0.0, late_start), 2),
            "unfired": unfired,
            "kafka_lag_seconds": lag_summary(lags),
            "sweep_lag_seconds": histogram_quantiles(),
        }
    finally:
        await cleanup(settings, ("sla",))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--clocks", type=int, default=100_000)
    parser.add_argument("--window", type=float, default=90.0, help="seconds over which deadlines fall")
    parser.add_argument("--lead", type=float, default=35.0, help="seconds from start to the first deadline")
    args = parser.parse_args()
    report_to = sys.stdout
    # FastStream's loggers write to stdout; during the run that goes to stderr, so stdout is the JSON.
    with contextlib.redirect_stdout(sys.stderr):
        report = asyncio.run(run(args.clocks, args.window, args.lead))
    print(json.dumps(report, indent=2), file=report_to)


if __name__ == "__main__":
    main()
