"""The outbox relay's lock is per service schema: services sharing one database relay side by side,
while two relays of the same service never send the same rows twice."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from runtime.kafka import Message
from runtime.outbox import RELAY_LOCK, OutboxRelay, enqueue
from runtime.service import ServiceRuntime
from runtime.settings import Settings
from schemas.registry import make_event
from tests.runtime import probe
from tests.runtime.test_runtime_real import order_created
from tests.support.batches import service_storage


class CollectingPublisher:
    def __init__(self) -> None:
        self.sent: list[Message] = []

    async def publish_each(self, messages: Sequence[Message]) -> list[BaseException | None]:
        self.sent.extend(messages)
        return [None] * len(messages)


@pytest.fixture
async def two_services(infra: Settings) -> AsyncIterator[tuple[ServiceRuntime, ServiceRuntime]]:
    async with (
        service_storage(infra, "probe", probe.MIGRATIONS) as first,
        service_storage(infra, "probe2", probe.MIGRATIONS) as second,
    ):
        for service in (first, second):
            async with service.db.transaction() as conn:
                await conn.execute("DELETE FROM outbox")
        yield first, second


async def test_a_relay_holding_its_lock_blocks_only_its_own_service(
    two_services: tuple[ServiceRuntime, ServiceRuntime],
) -> None:
    first, second = two_services
    for service in (first, second):
        async with service.db.transaction() as conn:
            await enqueue(conn, "probe-out", make_event("order.created", "s", order_created("o-1")), "o-1")
    publishers = {"probe": CollectingPublisher(), "probe2": CollectingPublisher()}
    relays = {
        name: OutboxRelay(service.db, publishers[name], name, batch_size=10, poll_seconds=0.1)
        for name, service in (("probe", first), ("probe2", second))
    }

    async with first.db.transaction() as holder:  # another instance of `probe` mid-relay
        assert await holder.fetchval(RELAY_LOCK) is True
        assert await relays["probe2"].relay_once() == 1  # another service's relay is not held up
        assert await relays["probe"].relay_once() == 0  # the same service's relay waits its turn
    assert await relays["probe"].relay_once() == 1
    assert [len(p.sent) for p in publishers.values()] == [1, 1]
