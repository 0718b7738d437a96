"""The notify API calls in docs/operations.md's webhook runbooks work as written: each one, with its
documented body, answers 2xx against the real API (its own app over the real Postgres, no Kafka), and
the dead-letter listing finds a dead-lettered delivery. The runbook once filtered on a status that
does not exist (`dead_lettered`, a 422)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from runtime.service import ServiceRuntime
from runtime.settings import Settings
from schemas import topics
from services.notify import bootstrap
from services.notify.api import build_api
from services.notify.config import NotifyConfig
from services.notify.context import Context
from services.notify.repository import deliveries
from tests.support.batches import service_storage
from tests.support.shops import KEY_A, SHOP_A, auth

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
AT = datetime(2026, 1, 7, 9, 0, tzinfo=UTC)
CALL = re.compile(r"`(GET|POST|PATCH|PUT|DELETE) (/v1/[^`\s]+)`(?: with `(\{[^`]*\})`)?")


@dataclass(frozen=True)
class Call:
    section: str
    method: str
    path: str
    body: str | None


def runbook_calls() -> list[Call]:
    """Every API call written in the webhook alerts' sections, with the body written after it."""
    calls = []
    for section in re.split(r"^### ", OPERATIONS.read_text(), flags=re.MULTILINE):
        title = section.split("\n", 1)[0]
        if title.startswith("CareLoopWebhook"):
            calls += [Call(title, m[1], m[2], m[3]) for m in CALL.finditer(section)]
    return calls


@pytest.fixture
async def storage(pg_infra: Settings) -> AsyncIterator[ServiceRuntime]:
    async with service_storage(pg_infra, "notify", bootstrap.MIGRATIONS) as runtime:
        yield runtime


async def a_disabled_endpoint_with_a_dead_delivery(
    runtime: ServiceRuntime, client: httpx.AsyncClient
) -> tuple[str, str]:
    url = "https://93.184.216.34/hook"  # a public address literal: nothing to resolve
    created = await client.post("/v1/endpoints", json={"url": url}, headers=auth(KEY_A))
    assert created.status_code == 201
    endpoint = created.json()["id"]
    delivery = deliveries.NewDelivery(
        "dlv_dead", SHOP_A, endpoint, "msg_e1", "e-1", "order.created", AT, "order:o-1", b"{}", AT
    )
    async with runtime.db.transaction() as conn:
        await deliveries.insert_deliveries(conn, [delivery])
    await reset(runtime, endpoint)
    return endpoint, delivery.id


async def reset(runtime: ServiceRuntime, endpoint: str) -> None:
    """The state the runbooks start from: the endpoint disabled, its delivery dead-lettered."""
    async with runtime.db.transaction() as conn:
        await conn.execute(
            "UPDATE deliveries SET status = 'dead', finished_at = $1 WHERE id = 'dlv_dead'",
            AT,
        )
        await conn.execute(
            "UPDATE endpoints SET enabled = false, disabled_reason = 'gone', disabled_at = $1,"
            " failing_since = $1 WHERE id = $2",
            AT,
            endpoint,
        )


async def test_every_runbook_call_works_as_written(storage: ServiceRuntime) -> None:
    calls = runbook_calls()
    assert {c.section for c in calls} >= {
        "CareLoopWebhookDeliveriesFailing",
        "CareLoopWebhookEndpointDisabled",
        "CareLoopWebhookDeadLetters",
    }
    assert len(calls) >= 8  # a parsing slip must not pass by finding nothing
    ctx = Context(
        storage.shops, storage.clock.now, storage.topic(topics.NOTIFY), NotifyConfig(allow_loopback=False)
    )
    api = build_api(storage.db, ctx)
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://careloop.test") as client:
        endpoint, delivery = await a_disabled_endpoint_with_a_dead_delivery(storage, client)
        for call in calls:
            await reset(storage, endpoint)
            path = call.path.replace("{id}", endpoint).replace("{delivery_id}", delivery)
            body = call.body.replace("<instant>", "2026-01-07T00:00:00Z") if call.body else None
            response = await client.request(
                call.method,
                path,
                content=body,
                headers={**auth(KEY_A), "content-type": "application/json"},
            )
            assert response.is_success, (call, response.status_code, response.text)
            if "status=dead" in path:
                assert [d["id"] for d in response.json()] == [delivery]
            if path.endswith("/replay-failed"):
                assert response.json() == {"replayed": 1}
