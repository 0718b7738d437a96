"""kill -9 the SLA service mid-stream, start it again: every timer's event exists exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest

from runtime.provision import ensure_service_schema
from runtime.settings import Settings
from schemas import topics
from tests.sla.support import all_records, send, ticket_event
from tests.support.net import free_port
from tests.support.shops import KEY_A, auth
from tests.support.stack import service_connection
from tests.support.wait import eventually

pytestmark = pytest.mark.kafka

# Seconds-long targets in plain elapsed time: a subprocess runs on the system clock.
FAST = {
    "policies": [
        {"id": "fast", "first_response": {"seconds": 8, "business_hours": False}, "warning_share": 0.5}
    ]
}
STAGES_PER_CLOCK = 4  # warning at 4 s, breach + team lead at 8 s, manager at 16 s
# (long enough that a consumer slowed by a busy machine still starts the clocks before the kill)


class SlaProcess:
    def __init__(self, settings: Settings, port: int, log_path: str) -> None:
        self.settings = settings
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.settings.kafka_bootstrap_servers,
            "DATABASE_URL": self.settings.database_url.get_secret_value(),
            "CARELOOP_TOPIC_PREFIX": self.settings.topic_prefix,
            "CARELOOP_SCHEMA_PREFIX": self.settings.schema_prefix,
            "CARELOOP_SHOPS_FILE": str(self.settings.shops_file),
            "CARELOOP_HTTP_PORT": str(self.port),
        }
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.sla"], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    async def ready(self) -> None:
        async def answers() -> bool:
            try:
                async with httpx.AsyncClient(timeout=1.0) as client:
                    return (await client.get(f"{self.base}/health/ready")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(answers, timeout=60, interval=0.2)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=25)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def test_kill_9_mid_stream_then_restart_fires_every_timer_once(infra: Settings) -> None:
    await ensure_service_schema(infra.for_service("sla"))
    log_path = tempfile.mkstemp(prefix="careloop-sla-kill-", suffix=".log")[1]
    service = SlaProcess(infra, free_port(), log_path)
    service.start()
    try:
        await service.ready()
        async with httpx.AsyncClient(base_url=service.base, timeout=5.0) as client:
            put = await client.put("/v1/sla/policies", headers=auth(KEY_A), json=FAST)
            assert put.status_code == 200, put.text

        first_wave = [f"k-{i}" for i in range(20)]
        await send(infra, topics.TICKETS, *(ticket_event("ticket.created", t, _now()) for t in first_wave))
        conn = await service_connection(infra, "sla")
        try:
            # kill while timers are firing: some stages done, others still due
            async def mid_stream() -> bool:
                done = await conn.fetchval("SELECT coalesce(sum(stages_done), 0) FROM clocks")
                return bool(done >= 20)

            await eventually(mid_stream, timeout=30, interval=0.05)
            service.kill()
            fired_before_kill = await conn.fetchval("SELECT sum(stages_done) FROM clocks")
            assert fired_before_kill < len(first_wave) * STAGES_PER_CLOCK

            second_wave = [f"k-{i}" for i in range(20, 30)]  # arrive while the service is dead
            await send(
                infra, topics.TICKETS, *(ticket_event("ticket.created", t, _now()) for t in second_wave)
            )
            await asyncio.sleep(1.0)
            service.start()
            await service.ready()

            expected = (len(first_wave) + len(second_wave)) * STAGES_PER_CLOCK

            async def all_fired_and_relayed() -> bool:
                done = await conn.fetchval("SELECT coalesce(sum(stages_done), 0) FROM clocks")
                backlog = await conn.fetchval("SELECT count(*) FROM outbox")
                return bool(done == expected and backlog == 0)

            await eventually(all_fired_and_relayed, timeout=60, interval=0.2)
        finally:
            await conn.close()
        found = await all_records(infra)
    finally:
        service.stop()

    per_timer = Counter(
        (e.data.clock_id, e.type, getattr(e.data, "level", 0)) for e in {e.id: e for e in found}.values()
    )
    assert len(per_timer) == expected
    assert set(per_timer.values()) == {1}, "a timer fired twice"
    # Counted per event id: the runtime's outbox relay is at-least-once (a kill between Kafka's ack and
    # the row's delete sends the same event id again, which consumers drop by id). A second *firing*
    # would carry a new event id and be caught above.
    assert {e.subject for e in found} == {f"k-{i}" for i in range(30)}


def _now() -> datetime:
    return datetime.now(UTC)
