"""What the holds sweep tells an operator (runtime/holds.py, CareLoopHeldEventsNotReleased): held
events of a shop that is not suspended are counted, a suspended shop's are not, over real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from runtime.service import ServiceRuntime
from runtime.settings import Settings
from schemas.v1.shops import ShopStatus
from services.intake import bootstrap
from tests.support.batches import service_storage
from tests.support.shops import SHOP_A, SHOP_B


@pytest.fixture
async def runtime(pg_infra: Settings) -> AsyncIterator[ServiceRuntime]:
    async with service_storage(pg_infra, "intake", bootstrap.MIGRATIONS) as service:
        yield service


async def hold(runtime: ServiceRuntime, shop_id: str, event_id: str) -> None:
    await runtime.db.pool.execute(
        """INSERT INTO held_events (consumer, shop_id, event_id, event_type, topic, partition, "offset",
                                    payload, reason)
           VALUES ('a-consumer-no-longer-run', $1, $2, 'order.placed', 'orders.events', 0, 0, '', 'test')""",
        shop_id,
        event_id,
    )


def unreleased() -> float | None:
    return REGISTRY.get_sample_value("careloop_events_held_unreleased", {"service": "intake"})


async def test_held_events_of_shops_not_suspended_are_counted_until_they_are_gone(
    runtime: ServiceRuntime,
) -> None:
    suspended = runtime.shops.get(SHOP_B)
    assert suspended is not None
    changed = {"status": ShopStatus.SUSPENDED, "version": suspended.version + 1}
    assert runtime.shops.put(suspended.model_copy(update=changed))
    await hold(runtime, SHOP_B, "e-1")  # waits for its shop's resume: not a problem
    await hold(runtime, SHOP_B, "e-2")
    await runtime.holds.sweep({})
    assert unreleased() == 0

    # an active shop's events no consumer releases (here: its consumer is gone), and a removed shop's
    await hold(runtime, SHOP_A, "e-3")
    await hold(runtime, "shop-removed", "e-4")
    await runtime.holds.sweep({})
    assert unreleased() == 2

    await runtime.db.pool.execute("DELETE FROM held_events WHERE shop_id <> $1", SHOP_B)
    await runtime.holds.sweep({})
    assert unreleased() == 0
