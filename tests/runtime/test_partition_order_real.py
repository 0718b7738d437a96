"""Per-key order under retries, over the real Postgres: an event whose handler fails inside a batch
holds back the later events of its partition (Kafka's unit of order, so of its key too) until it is
applied or dead-lettered, while the other partitions of the batch commit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiokafka.structs import ConsumerRecord

from runtime.binding import each
from runtime.consumer import EventProcessor
from runtime.db import Connection
from runtime.metrics import on_commit
from runtime.service import ServiceRuntime
from runtime.settings import Settings
from schemas.envelope import CloudEvent
from schemas.registry import encode_event, make_event
from tests.runtime import probe
from tests.runtime.test_runtime_real import order_created
from tests.support.batches import RecordingSink, service_storage


def on(partition: int, offset: int, order_id: str) -> ConsumerRecord[bytes, bytes]:
    value = encode_event(make_event("order.created", "shop", order_created(order_id), subject=order_id))
    return ConsumerRecord("orders", partition, offset, 0, 0, None, value, None, 0, len(value), ())


class Flaky:
    """Logs every application in order; the named order fails its first `failures` tries with a
    transient database error (what a deadlock or a serialization failure looks like to a handler)."""

    def __init__(self, order_id: str, failures: int) -> None:
        self._order_id = order_id
        self._failures_left = failures
        self.tries: list[str] = []

    async def handle(self, event: CloudEvent[Any], conn: Connection, _: object = None) -> None:
        order_id = event.data.order_id
        self.tries.append(order_id)
        if order_id == self._order_id and self._failures_left > 0:
            self._failures_left -= 1
            raise asyncpg.SerializationError("could not serialize access due to concurrent update")
        await conn.execute("INSERT INTO applied (order_id) VALUES ($1)", order_id)


@pytest.fixture
async def runtime(infra: Settings) -> AsyncIterator[ServiceRuntime]:
    async with service_storage(infra, "probe", probe.MIGRATIONS) as service:
        async with service.db.transaction() as conn:
            await conn.execute("CREATE TABLE applied (n bigserial PRIMARY KEY, order_id text NOT NULL)")
        yield service


async def applied(service: ServiceRuntime) -> list[str]:
    return [r["order_id"] for r in await service.db.pool.fetch("SELECT order_id FROM applied ORDER BY n")]


BATCH = (on(0, 0, "a-1"), on(1, 0, "b-1"), on(0, 1, "a-2"), on(1, 1, "b-2"), on(0, 2, "a-3"))


async def test_a_transient_failure_holds_back_its_partition_until_it_is_applied(
    runtime: ServiceRuntime,
) -> None:
    # fails in the batch's pass and again in its own savepoint, then succeeds on its first retry alone
    flaky = Flaky("a-1", failures=2)
    consumer = each("probe-orders", None, {"order.created": flaky.handle})
    sink = RecordingSink()

    await EventProcessor(runtime.db, sink, "probe", attempts=3).process_batch(consumer, BATCH)

    order = await applied(runtime)
    assert sorted(order) == ["a-1", "a-2", "a-3", "b-1", "b-2"]  # each exactly once
    assert [o for o in order if o.startswith("a-")] == ["a-1", "a-2", "a-3"]
    assert order[:2] == ["b-1", "b-2"]  # the other partition was not held up by the retry
    assert sink.letters == []
    # the batch's pass stops at a-1; the redone pass stops partition 0 there: a-2 and a-3 are first
    # tried after a-1 succeeded alone
    assert flaky.tries == ["a-1", "a-1", "b-1", "b-2", "a-1", "a-2", "a-3"]
    recorded = await runtime.db.pool.fetchval("SELECT count(*) FROM processed_events")
    assert recorded == len(BATCH)


async def test_an_event_that_keeps_failing_is_dead_lettered_before_its_partition_goes_on(
    runtime: ServiceRuntime,
) -> None:
    flaky = Flaky("a-1", failures=100)
    consumer = each("probe-orders", None, {"order.created": flaky.handle})
    letters_when: list[list[str]] = []

    class Sink(RecordingSink):
        async def dead_letter(self, record: ConsumerRecord[bytes, bytes], consumer: str, reason: str) -> None:
            letters_when.append(await applied(runtime))
            await super().dead_letter(record, consumer, reason)

    sink = Sink()
    await EventProcessor(runtime.db, sink, "probe", attempts=2).process_batch(consumer, BATCH)

    assert await applied(runtime) == ["b-1", "b-2", "a-2", "a-3"]
    assert [offset for offset, _ in sink.letters] == [0]
    assert sink.letters[0][1].startswith("handler failed 2 times: SerializationError")
    assert letters_when == [["b-1", "b-2"]]  # dead-lettered before a-2 and a-3 took effect
    ids = {r["event_id"] for r in await runtime.db.pool.fetch("SELECT event_id FROM processed_events")}
    assert len(ids) == len(BATCH) - 1  # the dead letter is not recorded as processed


async def test_metrics_count_only_what_committed_when_a_batch_is_redone(runtime: ServiceRuntime) -> None:
    flaky = Flaky("a-3", failures=1)  # fails the batch's pass only, after four were applied in it
    counted: list[str] = []

    async def handle(event: CloudEvent[Any], conn: Connection, _: object) -> None:
        await flaky.handle(event, conn)
        on_commit(lambda: counted.append(event.data.order_id))

    consumer = each("probe-orders", None, {"order.created": handle})
    await EventProcessor(runtime.db, RecordingSink(), "probe", attempts=2).process_batch(consumer, BATCH)

    assert sorted(counted) == sorted(await applied(runtime)) == ["a-1", "a-2", "a-3", "b-1", "b-2"]
