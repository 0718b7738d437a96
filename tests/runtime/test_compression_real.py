"""Records compressed by another producer with any codec Kafka knows (gzip, snappy, lz4, zstd) are
read and applied like uncompressed ones; Java and Go clients often compress."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer

from runtime.settings import Settings
from schemas import topics
from schemas.registry import encode_event, make_event
from tests.runtime.test_runtime_real import order_created, running_probe
from tests.support.wait import eventually


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
async def test_compressed_records_are_applied(infra: Settings, codec: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap_servers, acks="all", compression_type=codec, linger_ms=20
    )
    await producer.start()
    order_ids = [f"{codec}-{n}" for n in range(20)]
    try:
        async with running_probe(infra) as app:
            for order_id in order_ids:  # one compressed batch per partition
                event = make_event("order.created", "shop", order_created(order_id), subject=order_id)
                await producer.send(
                    infra.topic(topics.ORDERS.name), encode_event(event), key=order_id.encode()
                )
            await producer.flush()

            async def all_seen() -> bool:
                count = await app.runtime.db.pool.fetchval("SELECT count(*) FROM seen")
                return bool(count == len(order_ids))

            await eventually(all_seen, timeout=30)
            letters = await app.runtime.db.pool.fetchval("SELECT count(*) FROM dead_letters")
    finally:
        await producer.stop()
    assert letters == 0
