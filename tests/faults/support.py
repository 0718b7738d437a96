"""The fault suite's tools: services as real OS processes (so SIGKILL is a real crash), a producer
for bursts of events, and readers for the outside evidence (topics, DLQs, /metrics)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from runtime.kafka import DLQ_CONSUMER, DLQ_REASON
from runtime.provision import ensure_service_schema
from runtime.settings import Settings
from schemas.envelope import CloudEvent
from schemas.registry import InvalidEvent, decode_event, encode_event
from tests.support.kafka import read_topic
from tests.support.net import free_port
from tests.support.wait import eventually

REPO = Path(__file__).resolve().parents[2]

NOTIFY_ENV = {
    "NOTIFY_ALLOW_LOOPBACK": "true",  # the test receivers listen on 127.0.0.1
    "NOTIFY_POLL_SECONDS": "0.05",
    "NOTIFY_RETRY_JITTER": "0",
    "NOTIFY_RETRY_SCHEDULE_SECONDS": json.dumps([0, 0.2, 0.5, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
    "NOTIFY_TIMEOUT_SECONDS": "1.5",
    "NOTIFY_LEASE_MARGIN_SECONDS": "1",
    "NOTIFY_BREAKER_THRESHOLD": "1000",
    "NOTIFY_GAUGE_SECONDS": "0.5",
}
SURVEY_ENV = {
    "SURVEY_NPS_DELAY_DAYS": "0",  # invitations go out at the next sweep, not a week later
    "SURVEY_SWEEP_SECONDS": "0.2",
}


class ServiceProcess:
    """`python -m services.<name>` on the isolated run's topics, schema and shops, on a free port."""

    def __init__(self, name: str, settings: Settings, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.settings = settings
        self.port = free_port()
        self.log_path = Path(tempfile.mkstemp(prefix=f"careloop-{name}-", suffix=".log")[1])
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "DATABASE_URL": settings.database_url.get_secret_value(),
            "CARELOOP_TOPIC_PREFIX": settings.topic_prefix,
            "CARELOOP_SCHEMA_PREFIX": settings.schema_prefix,
            "CARELOOP_SHOPS_FILE": str(settings.shops_file),
            "CARELOOP_HTTP_PORT": str(self.port),
            "CARELOOP_LOG_LEVEL": "INFO",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.lives = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, f"{self.name} is already running"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.name}"],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.lives += 1

    async def wait_ready(self, timeout: float = 60.0) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as client:

            async def ready() -> bool:
                if self.process is not None and self.process.poll() is not None:
                    raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
                with contextlib.suppress(httpx.HTTPError):
                    return (await client.get("/health/ready")).status_code == 200
                return False

            await eventually(ready, timeout=timeout, interval=0.2)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, in-flight transactions and sends are cut where they are."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=25)
        except subprocess.TimeoutExpired:
            self.kill()

    async def restart(self) -> None:
        self.start()
        await self.wait_ready()

    def log(self) -> str:
        return self.full_log()[-5000:]

    def full_log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def metrics(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        async with httpx.AsyncClient(base_url=self.url, timeout=5.0) as client:
            text = (await client.get("/metrics")).text
        return parse_metrics(text)


def parse_metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)], e.g. 'careloop_dead_letters_total' -> [...]."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name].append((dict(sample.labels), sample.value))
    return samples


@asynccontextmanager
async def service_processes(
    settings: Settings, names: Iterable[str], env: dict[str, str] | None = None
) -> AsyncIterator[dict[str, ServiceProcess]]:
    processes = {name: ServiceProcess(name, settings, env) for name in names}
    for process in processes.values():
        await ensure_service_schema(settings.for_service(process.name))
        process.start()
    try:
        for process in processes.values():
            await process.wait_ready()
        yield processes
    finally:
        for process in processes.values():
            process.stop()


class Producer:
    """One producer for a burst of events (the shared helper opens one per message)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", enable_idempotence=True
        )

    async def __aenter__(self) -> Producer:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(self, topic: str, value: bytes | CloudEvent[Any], key: str | None = None) -> None:
        payload = value if isinstance(value, bytes) else encode_event(value)
        if key is None and isinstance(value, CloudEvent):
            key = value.subject
        await self._producer.send_and_wait(
            self.settings.topic(topic), payload, key=key.encode() if key else None
        )


async def events_on(
    settings: Settings, topic: str, at_least: int, timeout: float = 30.0
) -> list[CloudEvent[Any]]:
    """Every valid event on `topic` (copies included: a relay may publish a row twice after a crash)."""
    records = await read_topic(settings, topic, at_least=at_least, timeout=timeout)
    events = []
    for record in records:
        with contextlib.suppress(InvalidEvent):
            events.append(decode_event(record.value or b""))
    return events


async def dead_letters(settings: Settings, topic: str, at_least: int) -> list[tuple[str, str, bytes]]:
    """(consumer, reason, original bytes) of every record on `<topic>.dlq`."""
    records = await read_topic(settings, f"{topic}.dlq", at_least=at_least, timeout=30.0)
    out = []
    for record in records:
        headers = {k: v.decode() for k, v in record.headers}
        out.append((headers[DLQ_CONSUMER], headers[DLQ_REASON], record.value or b""))
    return out


def total(samples: list[tuple[dict[str, str], float]], **labels: str) -> float:
    return sum(v for lab, v in samples if all(lab.get(k) == want for k, want in labels.items()))


async def wait_for_zero_lag(process: ServiceProcess, topics: Iterable[str], timeout: float = 40.0) -> None:
    """The service's own lag gauge shows every partition of `topics` consumed and committed."""
    wanted = {process.settings.topic(t) for t in topics}

    async def caught_up() -> bool:
        lag = (await process.metrics()).get("careloop_consumer_lag_records", [])
        mine = [(lab["topic"], v) for lab, v in lag if lab["topic"] in wanted]
        return {t for t, _ in mine} == wanted and all(v == 0 for _, v in mine)

    await eventually(caught_up, timeout=timeout, interval=0.5)


def sla_settled(conn: Any, tickets: int) -> Callable[[], Awaitable[bool]]:
    """A probe for `eventually`: sla has opened clocks for all `tickets` tickets, nothing running is
    past due (clock or promise) and its outbox is empty."""

    async def probe() -> bool:
        due = await conn.fetchval(
            "SELECT (SELECT count(*) FROM clocks WHERE status = 'running' AND due_at <= now())"
            " + (SELECT count(*) FROM promises WHERE status = 'running' AND promised_at <= now())"
            " + (SELECT count(*) FROM outbox)"
        )
        started = await conn.fetchval("SELECT count(DISTINCT ticket_id) FROM clocks")
        return bool(due == 0 and started == tickets)

    return probe
