"""The service's FastStream Kafka broker and the two things the runtime publishes with it."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from faststream.kafka import KafkaBroker

from runtime.metrics import kafka_middleware
from runtime.settings import Settings

if TYPE_CHECKING:
    from aiokafka.structs import ConsumerRecord

DLQ_REASON = "careloop-dlq-reason"
DLQ_CONSUMER = "careloop-dlq-consumer"
DLQ_SOURCE = "careloop-dlq-source"


def make_broker(settings: Settings) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"careloop-{settings.service_name}",
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        allow_auto_create_topics=False,
        middlewares=[kafka_middleware(settings.service_name)],
        graceful_timeout=15.0,
        description=f"CareLoop {settings.service_name} service",
        # FastStream logs every batch received/processed at this level: debug, not the service's voice
        log_level=logging.DEBUG,
    )


class KafkaOutput:
    """Ordered, acknowledged sends for the outbox relay and the dead-letter topics."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def publish_many(self, messages: list[tuple[str, str | None, bytes, dict[str, str]]]) -> None:
        pending: list[asyncio.Future[Any]] = []
        for topic, key, value, headers in messages:
            future = await self._broker.publish(
                value,
                topic,
                key=key.encode() if key is not None else None,
                headers=headers or None,
                no_confirm=True,
            )
            pending.append(future)
        await asyncio.gather(*pending)

    async def dead_letter(self, record: ConsumerRecord[bytes, bytes], consumer: str, reason: str) -> None:
        headers = {k: v.decode(errors="replace") for k, v in (record.headers or ())}
        headers[DLQ_REASON] = reason[:2000]
        headers[DLQ_CONSUMER] = consumer
        headers[DLQ_SOURCE] = f"{record.topic}/{record.partition}/{record.offset}"
        await self._broker.publish(
            record.value or b"",
            f"{record.topic}.dlq",
            key=record.key,
            headers=headers,
        )
