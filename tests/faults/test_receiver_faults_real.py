"""Webhook receivers that fail for a while — 500s, hanging, dropped connections, refused
connections — while orders keep coming: once they recover, every event has taken effect exactly
once per subscribed endpoint, a healthy endpoint never waited for the sick ones, and the attempt
metrics agree with the attempts table."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from standardwebhooks import Webhook

from demo.journeys import shop_day
from runtime.settings import Settings
from schemas import topics
from services.notify.config import NotifyConfig
from services.notify.handlers import webhook_id_for
from tests.faults.inprocess import FAST_NOTIFY, running_services
from tests.faults.support import Producer
from tests.notify.receiver import Received, Receiver, Reply
from tests.support.shops import KEY_A, SHOP_A, auth
from tests.support.stack import http_client
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(120)]

SICK_SECONDS = 8.0
FAULTS = {
    "/steady": Reply(200),
    "/errors": Reply(500, b"upstream exploded"),
    "/hangs": Reply(hang=True),
    "/drops": Reply(drop=True),
}


def attempt_counts() -> Counter[str]:
    counts: Counter[str] = Counter()
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == "careloop_notify_attempts_total":
                counts[sample.labels["outcome"]] += int(sample.value)
    return counts


async def test_receivers_failing_for_a_while_get_every_event_once_when_they_recover(
    infra: Settings,
) -> None:
    secrets: dict[str, str] = {}
    effects: dict[str, Counter[str]] = defaultdict(Counter)
    sick_until = 0.0

    async def faulty(request: Received) -> Reply:
        sick = time.monotonic() < sick_until
        reply = FAULTS[request.path] if sick else Reply(200)
        if reply.status == 200 and not reply.hang and not reply.drop:
            Webhook(secrets[request.path]).verify(request.body, request.headers)
            effects[request.path][request.webhook_id] += 1
        return reply

    receiver = Receiver(faulty)
    await receiver.start()
    # The "refused" endpoint is a port nobody listens on until the sick period ends.
    refused = Receiver(faulty)
    refused.port = (await refused.start()).port
    await refused.stop()

    start = datetime.now(UTC) - timedelta(days=1)
    events = [s.event for s in shop_day(random.Random(11), SHOP_A, start, 10)]
    wanted = {webhook_id_for(e.id) for e in events}
    cfg = NotifyConfig(
        **{**FAST_NOTIFY, "retry_schedule_seconds": (0, 0.3, 0.5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
        timeout_seconds=1.0,
        lease_margin_seconds=1.0,
    )
    attempts_before = attempt_counts()
    try:
        async with running_services(infra, ["notify"], cfg) as apps, http_client(apps["notify"]) as client:
            paths = [*FAULTS, "/refused"]
            for path in paths:
                url = refused.url(path) if path == "/refused" else receiver.url(path)
                created = await client.post("/v1/endpoints", json={"url": url}, headers=auth(KEY_A))
                assert created.status_code == 201, created.text
                secrets[path] = created.json()["secret"]
            sick_until = time.monotonic() + SICK_SECONDS
            async with Producer(infra) as producer:
                for event in events:
                    await producer.send(topics.ORDERS.name, event)

            async def steady_done() -> bool:
                return set(effects["/steady"]) == wanted

            await eventually(steady_done, timeout=20)
            steady_done_at = time.monotonic()
            # Well inside the sick period: a healthy endpoint on the sick ones' host keeps its pace
            # (sharing their connections, it used to advance one hang timeout at a time).
            assert steady_done_at < sick_until - SICK_SECONDS / 2, (
                "the healthy endpoint waited for the sick ones"
            )
            await asyncio.sleep(max(0.0, sick_until - time.monotonic()))
            await refused.start(refused.port)

            async def all_recovered() -> bool:
                return all(set(effects[p]) == wanted for p in paths)

            await eventually(all_recovered, timeout=60, interval=0.2)
            pool = apps["notify"].runtime.db.pool

            async def settled() -> bool:
                return not await pool.fetchval("SELECT count(*) FROM deliveries WHERE status <> 'succeeded'")

            await eventually(settled, timeout=20)
            table = Counter(
                {
                    r["outcome"]: r["n"]
                    for r in await pool.fetch("SELECT outcome, count(*) AS n FROM attempts GROUP BY 1")
                }
            )
            deliveries = await pool.fetchval("SELECT count(*) FROM deliveries")
            endpoints = await pool.fetch("SELECT enabled FROM endpoints")
            grown = attempt_counts() - attempts_before
    finally:
        await receiver.stop()
        await refused.stop()

    for path in paths:
        assert set(effects[path]) == wanted, path
    assert deliveries == len(wanted) * len(paths)
    assert all(e["enabled"] for e in endpoints)
    assert table["success"] == deliveries
    assert sum(table.values()) > deliveries, "the sick period must have cost failed attempts"
    assert grown == table, "careloop_notify_attempts_total disagrees with the attempts table"
