from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from runtime.settings import Settings
from schemas.envelope import CloudEvent
from schemas.registry import encode_event


async def produce(
    settings: Settings, topic: str, value: bytes | CloudEvent[Any], key: str | None = None
) -> None:
    """Publish to `topic` (unprefixed name) of the isolated run, acknowledged by the broker."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        payload = value if isinstance(value, bytes) else encode_event(value)
        if key is None and isinstance(value, CloudEvent):
            key = value.subject
        await producer.send_and_wait(settings.topic(topic), payload, key=key.encode() if key else None)
    finally:
        await producer.stop()


async def read_topic(
    settings: Settings, topic: str, *, at_least: int = 1, timeout: float = 20.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read `topic` from the beginning until `at_least` records arrived (or the timeout passes)."""
    consumer = AIOKafkaConsumer(
        settings.topic(topic),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"test-reader-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(records) < at_least and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
        # pick up stragglers that arrived together with the last wanted record
        for part in (await consumer.getmany(timeout_ms=300)).values():
            records.extend(part)
    finally:
        await consumer.stop()
    return records
