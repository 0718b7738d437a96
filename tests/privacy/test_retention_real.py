"""Retention per shop (docs/privacy.md) over the real Kafka and Postgres: a shop that keeps message
texts 30 days and webhook bodies 10 has them purged by the sweeps once they are that old (rows
stay, counted in the metrics, each row once); a shop without a setting keeps everything; an
export's rows go after their own retention."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from runtime.clock import ManualClock
from runtime.provision import ensure_service_schema
from runtime.service import ServiceApp
from runtime.settings import Settings
from services.intake import sweeps as intake_sweeps
from services.notify import sweeps as notify_sweeps
from tests.notify.receiver import Receiver
from tests.privacy.world import build
from tests.support.shops import KEY_A, KEY_B, SHOP_A, SHOP_B, auth
from tests.support.stack import http_client, wait_ready
from tests.support.wait import eventually

pytestmark = pytest.mark.timeout(300)


@asynccontextmanager
async def started(
    settings: Settings, name: str, clock: ManualClock
) -> AsyncIterator[tuple[ServiceApp, httpx.AsyncClient]]:
    await ensure_service_schema(settings.for_service(name))
    app = build(settings, name)
    app.runtime.clock = clock
    async with app.start_lifespan_context():
        await wait_ready(app)
        async with http_client(app) as client:
            yield app, client


def purged(kind: str, service: str) -> float:
    value = REGISTRY.get_sample_value(f"careloop_{service}_retention_purged_total", {"kind": kind})
    return value or 0.0


async def contact(client: httpx.AsyncClient, key: str, body: str) -> str:
    response = await client.post(
        "/v1/contacts", json={"channel": "chat", "customer_handle": "@anna", "body": body}, headers=auth(key)
    )
    assert response.status_code == 201, response.text
    ticket: str = response.json()["ticket_id"]
    return ticket


async def test_texts_and_bodies_past_a_shops_retention_are_purged_once(infra: Settings) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    receiver = await Receiver().start()
    try:
        async with (
            started(infra, "intake", clock) as (intake, ic),
            started(infra, "notify", clock) as (notify, nc),
        ):
            for key in (KEY_A, KEY_B):
                hook = await nc.post("/v1/endpoints", json={"url": receiver.url()}, headers=auth(key))
                assert hook.status_code == 201, hook.text
            kept = await ic.put("/v1/privacy/retention", json={"message_body_days": 30}, headers=auth(KEY_A))
            assert kept.json() == {"message_body_days": 30, "in_force_days": 30}
            hooks = await nc.put(
                "/v1/privacy/retention", json={"delivery_body_days": 10}, headers=auth(KEY_A)
            )
            assert hooks.json() == {"delivery_body_days": 10, "in_force_days": 10}
            assert (await ic.get("/v1/privacy/retention", headers=auth(KEY_B))).json()[
                "in_force_days"
            ] is None

            old_a = await contact(ic, KEY_A, "an old text of shop A")
            old_b = await contact(ic, KEY_B, "an old text of shop B")

            async def delivered() -> bool:
                rows = await notify.runtime.db.fetch("SELECT status FROM deliveries")
                return len(rows) >= 2 and all(r["status"] == "succeeded" for r in rows)

            await eventually(delivered, timeout=60)
            clock.advance(timedelta(days=31))
            new_a = await contact(ic, KEY_A, "a new text of shop A")
            intake_ctx: Any = intake.runtime.api.state.context  # type: ignore[union-attr]
            notify_ctx: Any = notify.runtime.api.state.context  # type: ignore[union-attr]
            texts, bodies = purged("message_body", "intake"), purged("delivery_body", "notify")

            await intake_sweeps.apply_retention(intake.runtime.db, intake_ctx)
            await notify_sweeps.purge_bodies(notify.runtime.db, notify_ctx)
            await intake_sweeps.apply_retention(intake.runtime.db, intake_ctx)  # a second run: nothing more
            await notify_sweeps.purge_bodies(notify.runtime.db, notify_ctx)

            messages = {
                r["ticket_id"]: r["body"]
                for r in await intake.runtime.db.fetch("SELECT ticket_id, body FROM messages")
            }
            assert messages == {
                old_a: "[purged]",
                old_b: "an old text of shop B",
                new_a: "a new text of shop A",
            }
            assert purged("message_body", "intake") - texts == 1
            bodies_of = {
                r["order_key"]: bytes(r["body"])
                for r in await notify.runtime.db.fetch("SELECT order_key, body FROM deliveries")
            }
            stub = json.loads(bodies_of[f"ticket:{old_a}"])
            assert stub["type"] == "ticket.created"  # the stub still says what it was, and nothing else
            assert set(stub["data"]) == {"event_id", "purged"}
            assert json.loads(bodies_of[f"ticket:{old_b}"])["data"]["shop_id"] == SHOP_B
            assert purged("delivery_body", "notify") - bodies == 1
    finally:
        await receiver.stop()


async def test_an_exports_rows_are_dropped_after_their_own_retention(infra: Settings) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    async with started(infra, "intake", clock) as (intake, _):
        db = intake.runtime.db
        async with db.transaction() as conn:
            await conn.execute(
                """INSERT INTO privacy_requests (id, shop_id, kind, scope, asked_by, source,
                                                 subject_digests, status, requested_at, completed_at)
                   VALUES ('prv_old', $1, 'export', 'customer', 'customer_id', 'api',
                           '{}', 'complete', $2, $2)""",
                SHOP_A,
                clock.now(),
            )
            await conn.execute(
                """INSERT INTO privacy_parts
                       (request_id, service, chunk, chunks, status, counts, data, completed_at)
                   VALUES ('prv_old', 'sla', 0, 1, 'complete', '{"promises": 1}',
                           '{"promises": [{"id": "p"}]}', $1)""",
                clock.now(),
            )
        ctx: Any = intake.runtime.api.state.context  # type: ignore[union-attr]
        clock.advance(timedelta(days=6))
        await intake_sweeps.apply_retention(db, ctx)
        assert (await db.fetch("SELECT data_removed FROM privacy_parts"))[0][0] is None
        clock.advance(timedelta(days=2))
        await intake_sweeps.apply_retention(db, ctx)
        part = (await db.fetch("SELECT data, data_removed, counts FROM privacy_parts"))[0]
        assert part["data"] is None
        assert part["data_removed"] == "expired"
        assert part["counts"] == {"promises": 1}
