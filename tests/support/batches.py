"""Driving a service's consumers batch by batch over the real Postgres, without Kafka: its storage
alone, Kafka records built from events, and a dead-letter sink that keeps what it was given."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiokafka.structs import ConsumerRecord

from runtime.consumer import Consumer
from runtime.db import Connection
from runtime.provision import ensure_service_schema
from runtime.service import ServiceRuntime
from runtime.settings import Settings
from schemas.envelope import CloudEvent
from schemas.registry import encode_event


class RecordingSink:
    """Dead letters kept in memory (the Kafka side of dead-lettering is tested in tests/runtime)."""

    def __init__(self) -> None:
        self.letters: list[tuple[int, str]] = []

    async def dead_letter(self, record: ConsumerRecord[bytes, bytes], consumer: str, reason: str) -> None:
        self.letters.append((record.offset, reason))


class Watched:
    """The consumer's handler, noting whether each call went through or raised (and so was redone)."""

    def __init__(self, consumer: Consumer) -> None:
        self._inner = consumer.apply
        self.calls: list[str] = []

    async def __call__(self, events: Sequence[CloudEvent[Any]], conn: Connection) -> None:
        try:
            await self._inner(events, conn)
        except Exception as exc:
            self.calls.append(type(exc).__name__)
            raise
        self.calls.append("ok")


def record(offset: int, value: bytes) -> ConsumerRecord[bytes, bytes]:
    """A record of partition 0 of orders.events at `offset`."""
    return ConsumerRecord("orders", 0, offset, 0, 0, None, value, None, 0, len(value), ())


def one_per_batch(batches: Sequence[Sequence[CloudEvent[Any]]]) -> list[list[CloudEvent[Any]]]:
    """The same events in the same order, as Kafka would hand them over one batch per record."""
    return [[event] for batch in batches for event in batch]


def records(batches: Sequence[Sequence[CloudEvent[Any]]]) -> list[tuple[ConsumerRecord[bytes, bytes], ...]]:
    """The batches as Kafka would hand them over: one partition, offsets counting on across batches."""
    out: list[tuple[ConsumerRecord[bytes, bytes], ...]] = []
    offset = 0
    for events in batches:
        out.append(tuple(record(offset + i, encode_event(event)) for i, event in enumerate(events)))
        offset += len(events)
    return out


@asynccontextmanager
async def service_storage(
    settings: Settings, service: str, migrations: Path
) -> AsyncIterator[ServiceRuntime]:
    """A service's schema, migrations and pool only (no Kafka, no loops started)."""
    service_settings = settings.for_service(service)
    await ensure_service_schema(service_settings)
    runtime = ServiceRuntime(service_settings, migrations)
    await runtime.start_storage()
    try:
        yield runtime
    finally:
        await runtime.db.close()
