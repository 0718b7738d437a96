"""A private Kafka broker stopped and started five times under intake while contacts keep flowing:
the outbox relay must come back by itself every time (no livelock on a broken idempotent producer,
no republishing of rows Kafka already acknowledged), and every ticket must reach `tickets.events`
with exactly one event id."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, defaultdict
from collections.abc import Callable

import httpx
import pytest

from runtime.settings import Settings
from schemas import topics
from tests.faults.support import ServiceProcess, events_on, service_processes, wait_for_zero_lag
from tests.support.private_infra import PrivateKafka
from tests.support.shops import KEY_A, auth
from tests.support.stack import service_connection
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(600)]

CYCLES = 5
DOWN_SECONDS = 10.0
UP_SECONDS = 8.0
"""How long the broker stays up between two stops, with contacts flowing throughout."""


async def keep_posting(intake: ServiceProcess, accepted: list[str], stop: asyncio.Event) -> None:
    """One contact after another until told to stop; every 201 is a ticket that must reach Kafka."""
    n = 0
    async with httpx.AsyncClient(base_url=intake.url, timeout=10.0) as client:
        while not stop.is_set():
            response = await client.post(
                "/v1/contacts",
                json={"channel": "email", "customer_email": f"cycle{n}@example.com", "body": f"question {n}"},
                headers=auth(KEY_A),
            )
            assert response.status_code == 201, response.text
            accepted.append(response.json()["ticket_id"])
            n += 1
            await asyncio.sleep(0.05)


async def test_the_relay_recovers_from_every_broker_restart_by_itself(
    settings_on_private_kafka: Settings,
    private_kafka: PrivateKafka,
    record_property: Callable[[str, object], None],
) -> None:
    settings = settings_on_private_kafka
    accepted: list[str] = []
    stop = asyncio.Event()
    async with service_processes(settings, ["intake"]) as services:
        intake = services["intake"]
        poster = asyncio.create_task(keep_posting(intake, accepted, stop))
        try:
            for _ in range(CYCLES):
                await asyncio.sleep(UP_SECONDS)
                await asyncio.to_thread(private_kafka.ctl, "stop")
                await asyncio.sleep(DOWN_SECONDS)
                await asyncio.to_thread(private_kafka.ctl, "start")
            await asyncio.sleep(UP_SECONDS)
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await poster
        assert len(set(accepted)) == len(accepted) > CYCLES * 10

        conn = await service_connection(settings, "intake")
        try:

            async def outbox_drained() -> bool:
                return bool(await conn.fetchval("SELECT count(*) FROM outbox") == 0)

            await eventually(outbox_drained, timeout=60, interval=0.5)
        finally:
            await conn.close()

        created: dict[str, set[str]] = defaultdict(set)
        copies: Counter[str] = Counter()

        async def every_ticket_on_kafka() -> bool:
            created.clear()
            copies.clear()
            for event in await events_on(settings, topics.TICKETS.name, at_least=len(accepted), timeout=5):
                if event.type == "ticket.created":
                    created[event.data.ticket_id].add(event.id)
                    copies[event.id] += 1
            return set(created) >= set(accepted)

        await eventually(every_ticket_on_kafka, timeout=60, interval=1.0)
        await wait_for_zero_lag(intake, [topics.CONTACTS.name])
        # the relay was never restarted: the first process is still the one running
        assert intake.lives == 1
        assert intake.process is not None
        assert intake.process.poll() is None
        log_text = intake.full_log()
        renewals = log_text.count("Kafka producer replaced")
        kafka_errors = sum(1 for line in log_text.splitlines() if " aiokafka" in line and "ERROR" in line)
    assert set(created) == set(accepted)
    assert all(len(ids) == 1 for ids in created.values()), {t: i for t, i in created.items() if len(i) > 1}
    redelivered = sum(n - 1 for n in copies.values())
    # Only rows whose acknowledgement was lost with the broker may go out twice, never a batch again
    # and again: at most one relay batch's worth per cycle.
    assert redelivered <= CYCLES * 500, redelivered
    record_property("tickets", len(accepted))
    record_property("redelivered_copies", redelivered)
    record_property("producer_renewals", renewals)
    # The client library's retry errors while the broker is away are rate-limited, not thousands a
    # second (the replaced producer's sender no longer spins after the round gave it up).
    assert kafka_errors <= CYCLES * 60, kafka_errors
    print(f"{len(accepted)} tickets, {redelivered} redelivered copies, {renewals} producer renewals")
