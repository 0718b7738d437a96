"""DEMO_PLATFORM=shopify against a real intake (Kafka + Postgres): the demo shop registers its Shopify
secret, sends its order steps as signed Shopify webhooks, and they reach orders.events through the
adapter, each once; only the repairs, which Shopify has no topic for, go to orders.events directly."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from demo.journeys import SOURCE
from demo.shop import ShopGenerator, ShopTimeline
from demo.shopify import TOPICS, ShopifyStore
from runtime.clock import clock_from_settings
from runtime.settings import Settings
from schemas import topics
from schemas.registry import decode_event
from tests.support.kafka import read_topic
from tests.support.shops import KEY_A, SHOP_A, auth
from tests.support.stack import running_service
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

ADAPTER = "careloop/intake/platforms/shopify"


async def test_the_demo_shop_sends_its_orders_through_the_shopify_adapter(infra: Settings) -> None:
    # Real time: once the steps already due are sent, the next one is minutes away, so the shop is idle
    # when it is stopped and every step it counted is one it finished sending.
    settings = infra.model_copy(update={"time_factor": 1.0, "time_origin": datetime.now(UTC)})
    clock = clock_from_settings(settings.time_factor, settings.time_origin)
    async with running_service(settings, "intake") as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://intake.test", headers=auth(KEY_A)
        ) as intake:
            # Three days of journeys already under way: their steps so far are due at once.
            timeline = ShopTimeline(random.Random(5), SHOP_A, clock.now() - timedelta(days=3), 8)
            store = ShopifyStore(SHOP_A, "shpss_test_demo_store_secret")
            shop = ShopGenerator(settings, timeline, clock, intake, poll_seconds=0.05, shopify=store)
            running = asyncio.create_task(shop.run())
            try:

                async def first_burst_sent() -> int:
                    if running.done():
                        running.result()
                    sent = sum(shop.stats.order_events.values())
                    return sent if sent >= 60 else 0

                await eventually(first_burst_sent, timeout=60)
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
            sent = Counter(shop.stats.order_events)
            assert shop.stats.lost == Counter()
            secrets = (await intake.get("/v1/platforms/secrets")).json()["secrets"]
            assert [s["platform"] for s in secrets] == ["shopify"]

        records = await read_topic(settings, topics.ORDERS.name, at_least=sum(sent.values()))
        events = [decode_event(r.value) for r in records]
        assert Counter(e.type for e in events) == sent
        for event in events:
            assert event.source == (ADAPTER if event.type in TOPICS else SOURCE), event.type
        outcomes = await app.runtime.db.pool.fetch(
            "SELECT outcome, count(*) AS n FROM platform_deliveries WHERE shop_id = $1 GROUP BY 1", SHOP_A
        )
        assert {r["outcome"]: r["n"] for r in outcomes} == {
            "applied": sum(n for t, n in sent.items() if t in TOPICS)
        }
