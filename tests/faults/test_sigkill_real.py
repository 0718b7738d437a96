"""Each service is SIGKILLed mid-stream and restarted while traffic keeps flowing; afterwards every
effect is checked from the outside: nothing lost, nothing doubled, no consumer stuck."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from demo.journeys import shop_day
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import CloudEvent
from services.notify.handlers import webhook_id_for
from tests.faults.support import (
    NOTIFY_ENV,
    Producer,
    ServiceProcess,
    service_processes,
    wait_for_zero_lag,
)
from tests.notify.receiver import Received, Receiver, Reply
from tests.support.shops import KEY_A, SHOP_A, auth
from tests.support.stack import service_connection
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(150)]


async def produce_while(
    settings: Settings,
    topic: str,
    events: list[CloudEvent[Any]],
    crash: Callable[[], Awaitable[None]],
    crash_points: tuple[float, ...] = (0.3, 0.65),
) -> None:
    """Send `events` in small bursts; at each crash point (share of events sent) run `crash`."""
    marks = {int(len(events) * share) for share in crash_points}
    async with Producer(settings) as producer:
        for n, event in enumerate(events):
            if n in marks:
                await crash()
            await producer.send(topic, event)
            if n % 10 == 9:
                await asyncio.sleep(0.05)


async def kill_and_restart(process: ServiceProcess, settle: float = 0.5) -> None:
    await asyncio.sleep(settle)  # let it get busy with what was just sent
    process.kill()
    await process.restart()


class SigningReceiver(Receiver):
    """Counts an effect only for a request whose Standard Webhooks signature verifies."""

    def __init__(self) -> None:
        super().__init__(self._verify)
        self.secrets: dict[str, str] = {}
        self.verified: dict[str, Counter[str]] = defaultdict(Counter)
        """path -> webhook-id -> verified requests (several are fine; distinct ids are the effects)."""

    async def _verify(self, request: Received) -> Reply:
        Webhook(self.secrets[request.path]).verify(request.body, request.headers)
        self.verified[request.path][request.webhook_id] += 1
        return Reply(200)


async def test_notify_killed_twice_mid_stream_delivers_each_event_once_per_subscribed_endpoint(
    infra: Settings,
) -> None:
    receiver = SigningReceiver()
    await receiver.start()
    start = datetime.now(UTC) - timedelta(days=2)
    events = [s.event for s in shop_day(random.Random(8), SHOP_A, start, 40)]
    subscriptions = {"/all": ["*"], "/shipped": ["order.shipped"], "/returns": ["return.*", "refund.*"]}
    expected = {
        path: {
            webhook_id_for(e.id)
            for e in events
            if "*" in patterns or e.type in patterns or f"{e.type.split('.')[0]}.*" in patterns
        }
        for path, patterns in subscriptions.items()
    }
    try:
        async with service_processes(infra, ["notify"], NOTIFY_ENV) as services:
            notify = services["notify"]
            async with httpx.AsyncClient(base_url=notify.url) as client:
                for path, patterns in subscriptions.items():
                    created = await client.post(
                        "/v1/endpoints",
                        json={"url": receiver.url(path), "event_types": patterns},
                        headers=auth(KEY_A),
                    )
                    assert created.status_code == 201, created.text
                    receiver.secrets[path] = created.json()["secret"]

            await produce_while(infra, topics.ORDERS.name, events, lambda: kill_and_restart(notify))
            assert notify.lives == 3

            async def all_delivered() -> bool:
                return all(set(receiver.verified[p]) >= want for p, want in expected.items())

            await eventually(all_delivered, timeout=60, interval=0.2)
            await wait_for_zero_lag(notify, [topics.ORDERS.name])
            conn = await service_connection(infra, "notify")
            try:
                rows = await conn.fetch("SELECT webhook_id, status FROM deliveries")
            finally:
                await conn.close()
    finally:
        await receiver.stop()

    for path, want in expected.items():
        assert set(receiver.verified[path]) == want, f"{path}: wrong set of webhook effects"
    # one delivery row per event and endpoint, each succeeded: a redelivered event queued nothing twice
    assert len(rows) == sum(len(want) for want in expected.values())
    assert Counter(r["status"] for r in rows) == {"succeeded": len(rows)}
