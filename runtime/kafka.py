"""The service's FastStream Kafka broker and the two things the runtime publishes with it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from faststream.kafka import KafkaBroker

from runtime.metrics import kafka_middleware
from runtime.settings import Settings

if TYPE_CHECKING:
    from aiokafka.structs import ConsumerRecord

log = logging.getLogger(__name__)

DLQ_REASON = "careloop-dlq-reason"
DLQ_CONSUMER = "careloop-dlq-consumer"
DLQ_SOURCE = "careloop-dlq-source"
COMPRESSION = "zstd"
"""The codec of every record CareLoop produces: chosen by measurement (bench/codecs.py; the figures
are in docs/benchmarks.md, "Compression"): the smallest records for no more producer CPU than none."""
ACK_SECONDS = 10.0
"""How long a relay round waits for Kafka's acknowledgements before it gives the producer up."""
RETIRE_SECONDS = 15.0
"""How long a replaced producer may take to stop before it is left behind."""


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


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


Message = tuple[str, str | None, bytes, dict[str, str]]
"""(topic, key, value, headers) of one record to send."""


class RecordRefused(Exception):
    """Kafka will never take this record as it is (e.g. larger than the producer may send)."""


class HeldBack(Exception):
    """Not sent this round: an earlier record of the same key failed, and it must not be overtaken."""


class KafkaOutput:
    """Ordered, acknowledged sends for the outbox relay and the dead-letter topics.

    A plain idempotent aiokafka producer rather than the FastStream broker's publish: the relay ships
    hundreds of rows per round, and per-message middleware and header building cost more than the send.
    After any failure but a record's own refusal the producer is replaced before its next use: a batch
    that failed may have consumed sequence numbers the broker never saw, and an idempotent producer
    then fails everything after it (out-of-order sequence) or has lost its sender altogether. A new
    producer gets a new producer id, so its sequences start afresh.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._started: AIOKafkaProducer | None = None
        self._broken = False
        self._retiring: set[asyncio.Task[None]] = set()
        self.renewals = 0
        """How often the producer was replaced (tests and the relay's log read it)."""

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers,
            client_id=f"careloop-{self._settings.service_name}-output",
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=256 * 1024,
            request_timeout_ms=15000,
            compression_type=COMPRESSION,
        )

    async def _producer(self) -> AIOKafkaProducer:
        if self._started is None:
            raise RuntimeError("the Kafka output is not started")
        if self._broken:
            await self._renew()
        return self._started

    async def start(self) -> None:
        # aiokafka binds a producer to the running loop, so it is created here, not in __init__
        producer = self._new_producer()
        await producer.start()
        self._started = producer

    async def stop(self) -> None:
        if self._started is not None:
            await self._started.stop()
            self._started = None
        if self._retiring:
            await asyncio.wait(self._retiring)

    async def _renew(self) -> None:
        fresh = self._new_producer()
        try:
            await fresh.start()
        except BaseException:
            await fresh.stop()
            raise
        old, self._started, self._broken = self._started, fresh, False
        self.renewals += 1
        log.warning("%s: Kafka producer replaced after a failed send", self._settings.service_name)
        if old is not None:
            task = asyncio.create_task(self._retire(old))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def _retire(self, producer: AIOKafkaProducer) -> None:
        # Nothing the relay needs is left in the old producer (its rows stay in the outbox until
        # acknowledged), so what it still holds is failed rather than flushed: an idempotent producer
        # retries a batch without end, and while the broker is away its sender spins on metadata
        # requests. aiokafka has no public abort, hence its accumulator's fail_all.
        producer._message_accumulator.fail_all(KafkaError("producer replaced"))
        try:
            async with asyncio.timeout(RETIRE_SECONDS):
                await producer.stop()
        except Exception:
            log.warning("%s: a replaced Kafka producer did not stop cleanly", self._settings.service_name)

    def _failed(self, producer: AIOKafkaProducer, exc: BaseException) -> BaseException:
        if isinstance(exc, MessageSizeTooLargeError):
            return RecordRefused(f"{type(exc).__name__}: {exc}")
        if producer is self._started:
            self._broken = True
        return exc

    async def publish_each(self, messages: Sequence[Message]) -> list[BaseException | None]:
        """Send the records in order; for each, None once Kafka acknowledged it, else why not.

        Once a record of a key fails to be handed to the producer, the key's later records are held
        back. A record handed over but not acknowledged fails its partition's later batches too (the
        broker refuses a gap in the idempotent sequence), so an acknowledged record never overtakes an
        unacknowledged earlier one of its key."""
        producer = await self._producer()
        outcomes: list[BaseException | None] = [None] * len(messages)
        handed: list[tuple[int, asyncio.Future[Any]]] = []
        failed_keys: set[tuple[str, str | None]] = set()
        for index, (topic, key, value, headers) in enumerate(messages):
            if (topic, key) in failed_keys:
                outcomes[index] = HeldBack(f"an earlier record of key {key!r} on {topic} failed")
                continue
            try:
                future = await producer.send(
                    topic,
                    value,
                    key=key.encode() if key is not None else None,
                    headers=[(k, v.encode()) for k, v in headers.items()] or None,
                )
            except Exception as exc:
                outcomes[index] = self._failed(producer, exc)
                failed_keys.add((topic, key))
                continue
            handed.append((index, future))
        if handed:
            # An idempotent producer never gives up on a batch by itself: while the broker is away
            # the acknowledgement would be awaited for the whole outage (its sender spinning), so
            # the round ends after ACK_SECONDS and the producer is replaced.
            await asyncio.wait([future for _, future in handed], timeout=ACK_SECONDS)
        for index, future in handed:
            if not future.done():
                future.add_done_callback(_retrieve)  # failed later by the retire: nobody waits for it
                outcomes[index] = self._failed(producer, TimeoutError(f"not acknowledged in {ACK_SECONDS} s"))
            elif (error := future.exception()) is not None:
                outcomes[index] = self._failed(producer, error)
        return outcomes

    async def dead_letter(self, record: ConsumerRecord[bytes, bytes], consumer: str, reason: str) -> None:
        headers = [(k, v) for k, v in (record.headers or ()) if not k.startswith("careloop-dlq-")]
        headers += [
            (DLQ_REASON, reason[:2000].encode()),
            (DLQ_CONSUMER, consumer.encode()),
            (DLQ_SOURCE, f"{record.topic}/{record.partition}/{record.offset}".encode()),
        ]
        producer = await self._producer()
        try:
            await producer.send_and_wait(
                f"{record.topic}.dlq", record.value or b"", key=record.key, headers=headers
            )
        except Exception as exc:
            self._failed(producer, exc)
            raise
