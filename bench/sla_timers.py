"""Timer lag of the SLA service with N open clocks.

Inserts N running clocks (default 100,000) through the SLA repository into an isolated schema, the
breach deadlines of the first `--due` of them (default all) spread evenly over a short window and the
rest's spread over the day after the run, so they stay open in the table and its index throughout
without falling due. Then it runs the real service in-process (timer sweep, outbox relay, Kafka) and
measures for every breach due in the window how late it went out:

- `sweep_lag`: the transaction that fired the timer committed this long after the deadline
  (the `careloop_sla_timer_lag_seconds` histogram, observed after each commit);
- `kafka_lag`: the sla.breached record's Kafka timestamp minus the deadline (sweep + outbox relay).
  A breach not on Kafka when the run gives up counts as later than every other, so a p99 is given
  only if at least 99% of them went out.

The clocks are built (with the domain's own `start` and `fire_due`) and COPYed in chunks once the
service is up, yielding to the event loop between chunks: built in one go, a million of them held the
loop for most of a minute while the service's Kafka clients were still bootstrapping, which failed.
The lead must cover the load (`load_seconds` in the output; about 70 s per million on 2 cores).

With --window 0 every due clock breaches at the same instant: the time until the last breach is on
Kafka gives the sweep and relay's drain rate (`drained_per_second`).

    .venv/bin/python -m bench.sla_timers --clocks 1000000 [--due 100000] [--window 60] [--lead 20]
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

from bench.common import cleanup, isolated_settings, provision
from runtime.db import Connection
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
"""Clocks built and COPYed at a time: about 0.2 s of building, short enough not to starve the loop."""
LATER = timedelta(hours=1)
"""How long after the window the clocks not due in it start falling due, spread over LATER_SPREAD."""
LATER_SPREAD = timedelta(hours=24)
DRAIN_SECONDS = 180.0
"""How long after the last deadline the run waits for the backlog (sweep and outbox) to empty: as
long as bench/run.py's bound (lead + window + 300 s) allows once the records are read back."""


def deadline_of(i: int, count: int, due: int, first_deadline: datetime, window: float) -> datetime:
    """Clock i's breach deadline: the first `due` evenly across the window, the rest a day later."""
    if i < due:
        return first_deadline + timedelta(seconds=window * i / due)
    later = LATER_SPREAD * ((i - due) / max(1, count - due))
    return first_deadline + timedelta(seconds=window) + LATER + later


def open_clocks(
    count: int,
    first_deadline: datetime,
    window: float,
    start: int = 0,
    stop: int | None = None,
    due: int | None = None,
) -> list[repo.ClockRecord]:
    """Clocks `start` to `stop` of `count`: running chat first-response clocks, warning already sent,
    the first `due` (default all) breaching evenly across the window. Each breach also raises the
    level-1 escalation, so two events go out per timer."""
    stages = DEFAULT_POLICIES.policies[0].stages()
    records = []
    for i in range(start, count if stop is None else min(stop, count)):
        deadline = deadline_of(i, count, count if due is None else due, first_deadline, window)
        started = deadline - TARGET
        clock = clocks.start(
            f"bench-{i}", SlaMetric.FIRST_RESPONSE, TARGET, False, stages, started, CALENDAR_TIME
        )
        clock, _ = clocks.fire_due(clock, started + TARGET * 0.8)
        records.append(repo.ClockRecord(clock, SHOP, f"ticket-{i}", "chat", "chat", "other", "normal"))
    return records


async def load_clocks(
    conn: Connection, count: int, first_deadline: datetime, window: float, due: int
) -> None:
    for start in range(0, count, CHUNK):
        await repo.load_clocks(conn, open_clocks(count, first_deadline, window, start, start + CHUNK, due))
        await asyncio.sleep(0)  # COPY may not have waited on the socket: let Kafka's clients run


def drain_rate(lags: list[float], due: int, window: float) -> float | None:
    """Timers per second of a burst (window 0): all `due` out by the latest lag; None otherwise."""
    latest = max(lags, default=0.0)
    return round(due / latest, 1) if window == 0 and len(lags) == due and latest > 0 else None


def lag_summary(lags: list[float], expected: int, unseen_after: float | None = None) -> dict[str, Any]:
    """Percentiles over all `expected` breaches, the ones never seen on Kafka counted as the latest:
    p50/p99 are None when more than half/1% of them are missing, rather than a flattering figure.
    `unseen_after`: how late every missing one is at least (the run gave up that long after the last
    deadline), which bounds a p99 that is None from below."""
    ordered = sorted(lags)
    missing = max(0, expected - len(ordered))

    def upto(share: float) -> float | None:
        rank = min(expected, max(1, round(share * expected)))
        return round(ordered[rank - 1], 3) if rank <= len(ordered) else None

    summary = {
        "n": len(ordered),
        "missing": missing,
        "p50": upto(0.50),
        "p99": upto(0.99),
        "max": round(ordered[-1], 3) if ordered and not missing else None,
        "share_within_1s": round(sum(1 for v in ordered if v <= 1.0) / expected, 4) if expected else None,
    }
    if summary["p99"] is None and unseen_after is not None:
        # The p99 rank lies beyond the breaches seen, so it is at least as late as the earliest unseen.
        summary["p99_at_least"] = round(unseen_after, 3)
    return summary


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
                    # Half the records are escalations: skip parsing what cannot be a breach.
                    if b"sla.breached" not in (record.value or b""):
                        continue
                    event = json.loads(record.value or b"{}")
                    if event.get("type") == "sla.breached":
                        deadline = datetime.fromisoformat(event["data"]["deadline"])
                        lags.append(record.timestamp / 1000 - deadline.timestamp())
        return lags
    finally:
        await consumer.stop()


async def run(count: int, window: float, lead: float, due: int) -> dict[str, Any]:
    first_deadline = datetime.now(UTC) + timedelta(seconds=lead)
    settings = isolated_settings("sla").for_service("sla")
    await provision(settings, ("sla",))
    try:
        app = build(settings)
        async with app.start_lifespan_context():
            # The lifespan context returns before the broker has connected; load only once the
            # service has started its loops, so loading never races its Kafka bootstrap.
            for _ in range(600):
                if app.runtime.running:
                    break
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError("the SLA service did not start within 30 s")
            pool = app.runtime.db.pool
            load_started = time.perf_counter()
            async with pool.acquire() as conn:
                await load_clocks(conn, count, first_deadline, window, due)
            loaded_in = time.perf_counter() - load_started
            late_start = (datetime.now(UTC) - first_deadline).total_seconds()

            last_deadline = deadline_of(due - 1, count, due, first_deadline, window)

            async def remaining() -> int:
                """Clocks due in the window that have not breached yet."""
                return int(
                    await pool.fetchval(
                        "SELECT count(*) FROM clocks WHERE outcome IS NULL AND due_at <= $1", last_deadline
                    )
                )

            give_up = first_deadline + timedelta(seconds=window + DRAIN_SECONDS)
            while datetime.now(UTC) < give_up:
                backlog = await pool.fetchval("SELECT count(*) FROM outbox")
                if not await remaining() and not backlog:
                    break
                await asyncio.sleep(1.0)
            unfired = await remaining()
            unrelayed = int(await pool.fetchval("SELECT count(*) FROM outbox"))
        lags = await kafka_lags(settings)
        return {
            "benchmark": "sla_timers",
            "cpus": os.cpu_count(),
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            "open_clocks": count,
            "due_in_window": due,
            "window_seconds": window,
            "lead_seconds": lead,
            "events_per_timer": 2,
            "load_seconds": round(loaded_in, 2),
            "loaded_after_first_deadline_seconds": round(max(0.0, late_start), 2),
            "unfired": unfired,
            "outbox_left": unrelayed,
            "kafka_lag_seconds": lag_summary(lags, due, (give_up - last_deadline).total_seconds()),
            "drained_per_second": drain_rate(lags, due, window),
            "sweep_lag_seconds": histogram_quantiles(),
        }
    finally:
        await cleanup(settings, ("sla",))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--clocks", type=int, default=100_000, help="open clocks")
    parser.add_argument("--due", type=int, default=None, help="of them, due in the window (default all)")
    parser.add_argument("--window", type=float, default=60.0, help="seconds over which deadlines fall")
    parser.add_argument(
        "--lead", type=float, default=20.0, help="seconds from start to the first deadline (covers the load)"
    )
    args = parser.parse_args()
    report_to = sys.stdout
    # FastStream's loggers write to stdout; during the run that goes to stderr, so stdout is the JSON.
    with contextlib.redirect_stdout(sys.stderr):
        due = args.clocks if args.due is None else min(args.due, args.clocks)
        report = asyncio.run(run(args.clocks, args.window, args.lead, due))
    print(json.dumps(report, indent=2), file=report_to)


if __name__ == "__main__":
    main()
