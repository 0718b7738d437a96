"""What intake tells an operator of privacy requests (CareLoopPrivacyRequestUnanswered): how many are
pending and how old the oldest is, over real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from runtime.service import ServiceRuntime
from runtime.settings import Settings
from services.intake import bootstrap, sweeps
from services.intake.context import Context
from tests.support.batches import service_storage
from tests.support.shops import SHOP_A

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
async def runtime(pg_infra: Settings) -> AsyncIterator[ServiceRuntime]:
    async with service_storage(pg_infra, "intake", bootstrap.MIGRATIONS) as service:
        yield service


async def request(runtime: ServiceRuntime, request_id: str, at: datetime, status: str) -> None:
    await runtime.db.pool.execute(
        """INSERT INTO privacy_requests (id, shop_id, kind, scope, asked_by, source, subject_digests,
                                         status, requested_at)
           VALUES ($1, $2, 'erasure', 'customer', 'test', 'api', ARRAY['d'], $3, $4)""",
        request_id,
        SHOP_A,
        status,
        at,
    )


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


async def test_the_oldest_pending_request_is_measured_and_nothing_pending_is_zero(
    runtime: ServiceRuntime,
) -> None:
    ctx = Context(now=lambda: NOW, tickets_topic="tickets", shops=runtime.shops)
    await sweeps.measure_privacy(runtime.db, ctx)
    assert gauge("careloop_intake_privacy_requests_pending") == 0
    assert gauge("careloop_intake_privacy_oldest_pending_seconds") == 0

    await request(runtime, "pr-done", NOW - timedelta(days=3), "complete")  # older, but answered
    await request(runtime, "pr-old", NOW - timedelta(hours=2), "pending")
    await request(runtime, "pr-new", NOW - timedelta(minutes=1), "pending")
    await sweeps.measure_privacy(runtime.db, ctx)
    assert gauge("careloop_intake_privacy_requests_pending") == 2
    assert gauge("careloop_intake_privacy_oldest_pending_seconds") == 2 * 3600
