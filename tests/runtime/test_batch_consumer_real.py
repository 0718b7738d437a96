"""The batch consumer's happy path and its fallback, over the real Postgres.

A batch is applied under one savepoint (by the consumer's batch handler when it has one); only when
something in it raises is it redone event by event, so the good events of a batch with a bad one are
applied exactly once and the bad one is dead-lettered with its reason."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from prometheus_client import REGISTRY

from runtime.binding import each, fold
from runtime.consumer import Consumer, EventProcessor
from runtime.db import Connection
from runtime.service import ServiceRuntime
from runtime.settings import Settings
from schemas.envelope import CloudEvent
from schemas.registry import encode_event, make_event
from tests.runtime import probe
from tests.runtime.test_runtime_real import order_created
from tests.support.batches import RecordingSink, record, service_storage


def batch(*order_ids: str) -> tuple[ConsumerRecord[bytes, bytes], ...]:
    return tuple(
        record(i, encode_event(make_event("order.created", "shop", order_created(o), subject=o)))
        for i, o in enumerate(order_ids)
    )


@pytest.fixture
async def runtime(pg_infra: Settings) -> AsyncIterator[ServiceRuntime]:
    async with service_storage(pg_infra, "probe", probe.MIGRATIONS) as service:
        async with service.db.transaction() as conn:
            await conn.execute("TRUNCATE seen, processed_events, dead_letters")
        yield service


class Probe:
    """The probe's handler per event, and a fold doing the same work in one statement; counts calls."""

    def consumer(self, as_fold: bool) -> Consumer:
        if as_fold:
            return fold("probe-orders", None, ["order.created"], self.many)
        return each("probe-orders", None, {"order.created": self.one})

    def __init__(self) -> None:
        self.batch_calls = 0

    async def one(self, event: CloudEvent[Any], conn: Connection, _: object) -> None:
        await probe.record_order(event, conn, out_topic="probe-out")

    async def many(self, events: Sequence[CloudEvent[Any]], conn: Connection, _: object) -> None:
        self.batch_calls += 1
        if any(e.data.order_id.startswith("boom") for e in events):
            raise ValueError("the probe refuses orders named boom*")
        await conn.execute(
            "INSERT INTO seen (order_id, times) SELECT unnest($1::text[]), 1 "
            "ON CONFLICT (order_id) DO UPDATE SET times = seen.times + 1",
            [e.data.order_id for e in events],
        )


async def seen(service: ServiceRuntime) -> dict[str, int]:
    rows = await service.db.pool.fetch("SELECT order_id, times FROM seen")
    return {r["order_id"]: r["times"] for r in rows}


@pytest.mark.parametrize("with_batch_handler", [False, True])
async def test_a_clean_batch_is_applied_once_and_a_redelivery_has_no_effect(
    runtime: ServiceRuntime, with_batch_handler: bool
) -> None:
    handlers = Probe()
    consumer = handlers.consumer(as_fold=with_batch_handler)
    sink = RecordingSink()
    processor = EventProcessor(runtime.db, sink, "probe", attempts=2)
    records = batch("o-1", "o-2", "o-3")

    await processor.process_batch(consumer, records)
    await processor.process_batch(consumer, records)

    assert await seen(runtime) == {"o-1": 1, "o-2": 1, "o-3": 1}
    assert handlers.batch_calls == (1 if with_batch_handler else 0)  # the redelivery found no fresh ids
    assert sink.letters == []


@pytest.mark.parametrize("with_batch_handler", [False, True])
async def test_one_bad_event_costs_only_itself(runtime: ServiceRuntime, with_batch_handler: bool) -> None:
    handlers = Probe()
    consumer = handlers.consumer(as_fold=with_batch_handler)
    sink = RecordingSink()
    processor = EventProcessor(runtime.db, sink, "probe", attempts=2)
    records = batch("o-1", "boom-2", "o-3")

    await processor.process_batch(consumer, records)

    # the batch's first pass was rolled back whole: the good ones count once, not twice
    assert await seen(runtime) == {"o-1": 1, "o-3": 1}
    assert [offset for offset, _ in sink.letters] == [1]
    assert sink.letters[0][1].startswith("handler failed 2 times: ValueError")
    recorded = await runtime.db.pool.fetchval("SELECT count(*) FROM processed_events")
    assert recorded == 2  # the bad event's id is not recorded: a fixed handler may apply it later
    stored = await runtime.db.pool.fetch("SELECT event_id, reason FROM dead_letters")
    assert len(stored) == 1
    assert stored[0]["reason"] == sink.letters[0][1]


async def test_an_unprocessable_event_is_dead_lettered_without_retries(runtime: ServiceRuntime) -> None:
    calls: list[str] = []

    async def counting(event: CloudEvent[Any], conn: Connection, _: object) -> None:
        calls.append(event.data.order_id)
        await probe.record_order(event, conn, out_topic="probe-out")

    consumer = each("probe-orders", None, {"order.created": counting})
    sink = RecordingSink()
    processor = EventProcessor(runtime.db, sink, "probe", attempts=3)
    records = (
        *batch("o-1"),
        record(1, encode_event(make_event("order.created", "s", order_created("x-2", "unknown-shop")))),
    )

    await processor.process_batch(consumer, records)

    assert await seen(runtime) == {"o-1": 1}
    assert sink.letters == [(1, "unprocessable: unknown shop unknown-shop")]
    # once in the batch's first pass, once alone in its savepoint: never the handler's retries
    assert calls.count("x-2") == 2


async def test_events_of_types_without_a_handler_are_passed_over_unvalidated(runtime: ServiceRuntime) -> None:
    """Only a consumer that would apply an event dead-letters it when it is invalid; an unknown type
    is every consumer's dead letter, since no one can tell whether it was meant for them."""
    consumer = Probe().consumer(as_fold=False)
    sink = RecordingSink()
    processor = EventProcessor(runtime.db, sink, "probe", attempts=2)
    valid = json.loads(batch("o-1")[0].value or b"")
    broken_paid = {**valid, "id": "broken-paid", "type": "order.paid", "data": {"shop_id": "x"}}
    broken_created = {**valid, "id": "broken-created", "data": {"shop_id": "x"}}
    teleported = {**valid, "id": "teleported", "type": "order.teleported"}
    records = (
        record(0, json.dumps(broken_paid).encode()),
        record(1, json.dumps(valid).encode()),
        record(2, json.dumps(broken_created).encode()),
        record(3, json.dumps(teleported).encode()),
    )
    labels = {"service": "probe", "consumer": "probe-orders", "type": "order.paid", "outcome": "ignored"}
    ignored_before = REGISTRY.get_sample_value("careloop_events_consumed_total", labels) or 0.0

    await processor.process_batch(consumer, records)

    assert await seen(runtime) == {"o-1": 1}
    assert [offset for offset, _ in sink.letters] == [2, 3]
    assert sink.letters[0][1].startswith("invalid order.created data")
    assert sink.letters[1][1] == "unknown event type 'order.teleported'"
    assert REGISTRY.get_sample_value("careloop_events_consumed_total", labels) == ignored_before + 1
