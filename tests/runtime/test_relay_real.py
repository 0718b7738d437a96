"""The outbox relay when Kafka takes only part of a round, refuses a record for good, or is away:
acknowledged rows leave at once and are never sent again, the rest stay in order, a refused row is
dead-lettered instead of blocking its key, and the backlog gauges read the table whatever the relay
is doing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence

import pytest
from prometheus_client import REGISTRY

from runtime.kafka import HeldBack, KafkaOutput, Message
from runtime.outbox import RELAY_CONSUMER, OutboxRelay, RelayIncomplete, enqueue
from runtime.service import ServiceRuntime
from runtime.settings import Settings
from schemas import topics
from schemas.registry import decode_event, encode_event, make_event
from tests.runtime import probe
from tests.runtime.test_runtime_real import order_created, running_probe
from tests.support.batches import service_storage
from tests.support.kafka import read_topic
from tests.support.private_infra import PrivateKafka
from tests.support.wait import eventually


class PartitionDown:
    """Kafka as seen while one key's partition has no leader: that key's records fail (the later ones
    held back, as KafkaOutput does), every other record is acknowledged."""

    def __init__(self, failing_key: str) -> None:
        self.failing_key: str | None = failing_key
        self.acknowledged: list[str | None] = []

    async def publish_each(self, messages: Sequence[Message]) -> list[BaseException | None]:
        outcomes: list[BaseException | None] = []
        failed = False
        for _, key, _, _ in messages:
            if key == self.failing_key:
                outcomes.append(HeldBack("held") if failed else TimeoutError("no leader"))
                failed = True
            else:
                outcomes.append(None)
                self.acknowledged.append(key)
        return outcomes


@pytest.fixture
async def storage(infra: Settings) -> AsyncIterator[ServiceRuntime]:
    async with service_storage(infra, "probe", probe.MIGRATIONS) as service:
        yield service


async def enqueue_orders(service: ServiceRuntime, keys: Sequence[str], topic: str = "probe-out") -> None:
    async with service.db.transaction() as conn:
        for n, key in enumerate(keys):
            event = make_event("order.created", "s", order_created(f"{key}-{n}"), subject=key)
            await enqueue(conn, topic, event, key)


async def test_a_failing_partition_never_sends_acknowledged_rows_again(storage: ServiceRuntime) -> None:
    await enqueue_orders(storage, ["a", "b", "a", "c", "b", "a"])
    kafka = PartitionDown(failing_key="b")
    relay = OutboxRelay(storage.db, kafka, "probe", batch_size=100, poll_seconds=0.1)

    for _ in range(3):  # the partition stays down for several rounds
        with pytest.raises(RelayIncomplete, match="2 of"):
            await relay.relay_once()
    kafka.failing_key = None
    assert await relay.relay_once() == 2

    assert kafka.acknowledged == ["a", "a", "c", "a", "b", "b"]  # each row once; b's in their order
    assert await storage.db.pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_a_record_kafka_refuses_is_dead_lettered_and_blocks_nothing(infra: Settings) -> None:
    async with service_storage(infra, "probe", probe.MIGRATIONS) as service:
        output = KafkaOutput(service.settings)
        await output.start()
        try:
            out = infra.topic(topics.TICKETS.name)
            # larger than a producer may send (an extension attribute the contracts keep)
            huge = make_event("order.created", "s", order_created("huge"), subject="k")
            padded = json.dumps({**json.loads(encode_event(huge)), "padding": "x" * 1_100_000})
            after = make_event("order.created", "s", order_created("after"), subject="k")
            other = make_event("order.created", "s", order_created("other"), subject="j")
            async with service.db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO outbox (event_id, topic, key, payload) VALUES ($1, $2, 'k', $3)",
                    huge.id,
                    out,
                    padded.encode(),
                )
                for event in (after, other):
                    await enqueue(conn, out, event)
            labels = {"service": "probe", "consumer": RELAY_CONSUMER, "reason": "refused"}
            before = REGISTRY.get_sample_value("careloop_dead_letters_total", labels) or 0.0

            relay = OutboxRelay(service.db, output, "probe", batch_size=100, poll_seconds=0.1)
            with pytest.raises(RelayIncomplete, match="1 of 3"):  # `after` is held behind the refusal
                await relay.relay_once()
            assert await relay.relay_once() == 1

            records = await read_topic(infra, topics.TICKETS.name, at_least=2)
            assert sorted(decode_event(r.value).data.order_id for r in records) == ["after", "other"]
            letters = await service.db.pool.fetch("SELECT event_id, payload, reason FROM dead_letters")
            assert [(r["event_id"], bytes(r["payload"])) for r in letters] == [(huge.id, padded.encode())]
            assert letters[0]["reason"].startswith("refused by Kafka: MessageSizeTooLargeError")
            assert REGISTRY.get_sample_value("careloop_dead_letters_total", labels) == before + 1
            assert await service.db.pool.fetchval("SELECT count(*) FROM outbox") == 0
            assert output.renewals == 0  # a record's own refusal does not break the producer
        finally:
            await output.stop()


def gauge(name: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": "probe"}) or 0.0


async def test_the_backlog_gauges_rise_while_the_broker_is_down_and_fall_after(
    settings_on_private_kafka: Settings, private_kafka: PrivateKafka
) -> None:
    settings = settings_on_private_kafka.model_copy(update={"outbox_gauge_seconds": 0.2})
    async with running_probe(settings) as app:
        runtime = app.runtime
        private_kafka.ctl("stop")
        await enqueue_orders(runtime, ["a", "b", "c", "d", "e"], runtime.topic(topics.TICKETS))

        async def backlog_seen() -> bool:
            return gauge("careloop_outbox_backlog") == 5 and gauge("careloop_outbox_oldest_age_seconds") > 2

        await eventually(backlog_seen, timeout=30, interval=0.2)
        private_kafka.ctl("start")

        async def drained() -> bool:
            return gauge("careloop_outbox_backlog") == 0 and gauge("careloop_outbox_oldest_age_seconds") == 0

        await eventually(drained, timeout=90, interval=0.5)
        assert runtime.running  # the same relay, never restarted
    records = await read_topic(settings, topics.TICKETS.name, at_least=5)
    assert {decode_event(r.value).subject for r in records} == {"a", "b", "c", "d", "e"}
