"""The service's FastStream Kafka broker and the two things the runtime publishes with it."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer
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
    """Ordered, acknowledged sends for the outbox relay and the dead-letter topics.

    A plain idempotent aiokafka producer rather than the FastStream broker's publish: the relay ships
    hundreds of rows per round, and per-message middleware and header building cost more than the send.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._started: AIOKafkaProducer | None = None

    @property
    def _producer(self) -> AIOKafkaProducer:
        if self._started is None:
            raise RuntimeError("the Kafka output is not started")
        return self._started

    async def start(self) -> None:
        # aiokafka binds a producer to the running loop, so it is created here, not in __init__
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers,
            client_id=f"careloop-{self._settings.service_name}-output",
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=256 * 1024,
            request_timeout_ms=15000,
        )
        await producer.start()
        self._started = producer

    async def stop(self) -> None:
        if self._started is not None:
            await self._started.stop()
            self._started = None

    async def publish_many(self, messages: list[tuple[str, str | None, bytes, dict[str, str]]]) -> None:
        pending: list[asyncio.Future[Any]] = []
        for topic, key, value, headers in messages:
            pending.append(
                await self._producer.send(
                    topic,
                    value,
                    key=key.encode() if key is not None else None,
                    headers=[(k, v.encode()) for k, v in headers.items()] or None,
                )
            )
        await asyncio.gather(*pending)

    async def dead_letter(self, record: ConsumerRecord[bytes, bytes], consumer: str, reason: str) -> None:
        headers = [(k, v) for k, v in (record.headers or ()) if not k.startswith("careloop-dlq-")]
        headers += [
            (DLQ_REASON, reason[:2000].encode()),
            (DLQ_CONSUMER, consumer.encode()),
            (DLQ_SOURCE, f"{record.topic}/{record.partition}/{record.offset}".encode()),
        ]
        await self._producer.send_and_wait(
            f"{record.topic}.dlq", record.value or b"", key=record.key, headers=headers
        )
