"""One clock in the demo: `python -m demo.run` (what `make run` starts) as a real process tree, and
every event any of its processes publishes (orders and contacts from the shop, tickets, SLA, surveys,
notify's own) carries in its envelope the accelerated shop time its data speaks of, and the time it
was sent at. Notify's delivery-latency metric then reads the pipeline's latency, not the distance
between two clocks.

The shared origin lies an hour back, so that from the first second shop time runs hundreds of days
ahead of the wall clock: an event stamped with the wall clock is off by that much, while an honest one
is off by at most the pipeline's lag (WALL_SLACK wall seconds, times the speed)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from demo.summary import parse_metrics
from runtime.clock import AcceleratedClock
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import CloudEvent
from schemas.registry import decode_event
from services.survey.config import SurveyConfig
from tests.demo.runs import REPO, free_port_base, killing_leftovers, processes_tagged
from tests.support.net import free_port
from tests.support.shops import KEY_A, SHOP_A, auth
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

SPEED = 7200.0
WALL_SLACK = 30.0
"""Wall seconds an event may take from its stamp to Kafka, or from one service to the next, on a busy
machine; times SPEED it is the shop time an honest stamp may be off by (60 h: still far less than the
hundreds of days of a wall-clock stamp)."""
TOLERANCE = timedelta(seconds=WALL_SLACK * SPEED)
ROUNDING = timedelta(seconds=1 * SPEED)
"""Kafka's record timestamps are whole milliseconds of wall time, and each process reads its own
clock: an event sent may seem stamped a little after it was sent."""
REQUIRED = {
    "order.created",
    "order.paid",
    "order.shipped",
    "order.delivered",
    "contact.received",
    "ticket.created",
    "ticket.message_added",
    "ticket.first_response",
    "ticket.solved",
    "sla.met",
    "survey.invited",
    "survey.answered",
    "webhook.delivery_dead_lettered",
    "webhook.endpoint_disabled",
}
"""Event types of every producer (the shop, intake, sla, survey, notify) that a few shop days bring."""
ALL_TOPICS = (topics.ORDERS, topics.CONTACTS, topics.TICKETS, topics.SLA, topics.SURVEYS, topics.NOTIFY)


def data_times(event: CloudEvent[Any]) -> Iterator[tuple[str, datetime]]:
    """When the event's data says it happened: its `at` (every ticket, SLA, survey answer and notify
    event), an order's delivery, or an invitation's send (its link's expiry less the link's life)."""
    data = event.data
    for name in ("at", "delivered_at"):
        value = getattr(data, name, None)
        if isinstance(value, datetime):
            yield name, value
    if event.type == "survey.invited":
        yield "expires_at - token_ttl", data.expires_at - SurveyConfig().token_ttl


class Collector:
    """Every record of the run's topics, read as they come (a consumer of the test's own)."""

    def __init__(self, settings: Settings) -> None:
        self.records: list[ConsumerRecord[bytes, bytes]] = []
        self.types: set[str] = set()
        self._consumer = AIOKafkaConsumer(
            *(settings.topic(t.name) for t in ALL_TOPICS),
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=f"test-one-clock-{uuid.uuid4().hex}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            metadata_max_age_ms=1000,
        )

    async def run(self) -> None:
        await self._consumer.start()
        try:
            while True:
                for part in (await self._consumer.getmany(timeout_ms=200)).values():
                    for record in part:
                        self.records.append(record)
                        self.types.add(decode_event(record.value).type)
        finally:
            await self._consumer.stop()


def run_env(infra: Settings, tmp_path: Path, base: int, origin: datetime) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "CARELOOP_TOPIC_PREFIX": infra.topic_prefix,
        "CARELOOP_SCHEMA_PREFIX": infra.schema_prefix,
        "CARELOOP_SHOPS_FILE": str(infra.shops_file),
        "CARELOOP_PORT_BASE": str(base),
        "CARELOOP_TIME_ORIGIN": origin.isoformat(),
        "DEMO_SPEED": f"{SPEED:g}",
        "DEMO_SHOP_ID": SHOP_A,
        "DEMO_API_KEY": KEY_A,
        "DEMO_RECEIVER_PORT": str(free_port()),
        "DEMO_PROMETHEUS": "off",
        "DEMO_ORDERS_PER_DAY": "40",
        "DEMO_SUMMARY_SECONDS": "1",
        "DEMO_SERVICE_LOGS": str(tmp_path / "logs"),
        # A shop endpoint that is down (below) gives up within shop minutes, so notify's own events come.
        "NOTIFY_RETRY_SCHEDULE_SECONDS": "[0, 5, 300]",
        "NOTIFY_DISABLE_AFTER_SECONDS": "600",
        "PYTHONUNBUFFERED": "1",
    }


class DemoRun:
    """`python -m demo.run` with its output collected; `stop()` is Ctrl-C."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd
        self.output: list[str] = []

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "demo.run",
            cwd=self.cwd,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.output.append(line.decode(errors="replace"))

    def alive(self) -> None:
        if self.process.returncode is not None:
            raise AssertionError("demo.run exited early:\n" + "".join(self.output[-60:]))

    async def ready(self) -> bool:
        self.alive()
        return "careloop: all services ready" in "".join(self.output)

    async def stop(self) -> int | None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(self.process.wait(), 60)
            await asyncio.wait_for(self.reader, 10)
        finally:
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()
            self.reader.cancel()
        return self.process.returncode


def off_the_clock(records: list[ConsumerRecord[bytes, bytes]], clock: AcceleratedClock) -> list[str]:
    """The events whose envelope time is not the shop time they were sent at, or not their data's."""
    off = []
    for record in records:
        event = decode_event(record.value)
        wall = record.timestamp / 1000 - clock.origin.timestamp()
        sent = clock.origin + timedelta(seconds=wall * clock.factor)
        if not sent - TOLERANCE <= event.time <= sent + ROUNDING:
            off.append(f"{event.type} ({event.source}): time {event.time}, sent at shop time {sent}")
        for name, value in data_times(event):
            if abs(event.time - value) > TOLERANCE:
                off.append(f"{event.type} ({event.source}): time {event.time}, data {name} {value}")
    return off


def mean_latencies(metrics: str) -> dict[str, float]:
    """careloop_notify_delivery_latency_seconds's mean per event type (shop seconds)."""
    samples = parse_metrics(metrics, "careloop_notify_delivery_latency_seconds")
    sums = {lab["event_type"]: v for n, lab, v in samples if n.endswith("_sum")}
    counts = {lab["event_type"]: v for n, lab, v in samples if n.endswith("_count") and v}
    return {t: sums[t] / counts[t] for t in counts}


async def test_every_event_of_the_demo_is_stamped_with_the_shop_clock(
    infra: Settings, tmp_path: Path
) -> None:
    base = free_port_base()
    origin = datetime.now(UTC) - timedelta(hours=1)
    tag = f"CARELOOP_TOPIC_PREFIX={infra.topic_prefix}"
    collector = Collector(infra)
    collecting = asyncio.create_task(collector.run())
    run = DemoRun(run_env(infra, tmp_path, base, origin), tmp_path)
    with killing_leftovers(tag):
        await run.start()
        try:
            await eventually(run.ready, timeout=90, interval=0.5)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{base + 3}", headers=auth(KEY_A), timeout=10
            ) as notify:
                down = {"url": f"http://127.0.0.1:{free_port()}/down", "event_types": ["ticket.created"]}
                assert (await notify.post("/v1/endpoints", json=down)).status_code == 201

                async def every_producer_spoke() -> bool:
                    run.alive()
                    return collector.types >= REQUIRED

                try:
                    await eventually(every_producer_spoke, timeout=180, interval=1)
                except AssertionError:
                    raise AssertionError(f"never seen: {sorted(REQUIRED - collector.types)}") from None
                metrics = (await notify.get("/metrics")).text
        finally:
            exit_code = await run.stop()
        await asyncio.sleep(1)  # the last records the run sent on its way out
        collecting.cancel()
        await asyncio.gather(collecting, return_exceptions=True)
    assert exit_code == 0, "".join(run.output[-40:])
    assert processes_tagged(tag) == []

    off = off_the_clock(collector.records, AcceleratedClock(origin, SPEED))
    assert off == [], f"{len(off)} of {len(collector.records)} events off the shop clock:\n" + "\n".join(
        off[:20]
    )

    # Notify's latency, event time to the receiver's 2xx: the pipeline's, for tickets and surveys too.
    means = mean_latencies(metrics)
    assert {"ticket.created", "ticket.solved", "survey.invited", "order.created"} <= set(means)
    slow = {t: mean for t, mean in means.items() if mean > TOLERANCE.total_seconds()}
    assert slow == {}, f"mean delivery latency (shop seconds) beyond {TOLERANCE}: {slow}"
