"""Shops and keys without restarts, on all four services running against the real Kafka and Postgres:
a shop and key created through intake's operator API work everywhere within seconds; a second key
works beside the first (rotation); a revoked key gets 401 and a suspended shop 403 everywhere; and a
suspended shop's events are held with the reason, never lost, and applied in order once it resumes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from runtime.service import ServiceApp
from runtime.settings import Settings
from schemas.registry import make_event
from schemas.v1.common import Customer
from schemas.v1.orders import OrderDelivered, OrderShipped
from tests.faults.inprocess import running_services
from tests.support.kafka import produce
from tests.support.shops import KEY_A, KEY_B, SHOP_A, SHOP_B, auth
from tests.support.stack import http_client, service_connection
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

ADMIN = "test-admin-token-0123456789"
SERVICES = ("intake", "sla", "notify", "survey")
PROBES = {
    "intake": "/v1/tickets",
    "sla": "/v1/sla/policies",
    "notify": "/v1/endpoints",
    "survey": "/v1/decisions",
}
"""A GET route of each service that any key of a shop may call."""


@asynccontextmanager
async def stack(infra: Settings) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    settings = infra.model_copy(update={"admin_token": SecretStr(ADMIN), "held_release_seconds": 0.5})
    async with AsyncExitStack() as exits:
        apps: dict[str, ServiceApp] = await exits.enter_async_context(running_services(settings, SERVICES))
        clients = {name: await exits.enter_async_context(http_client(app)) for name, app in apps.items()}
        yield clients


async def answers(clients: dict[str, httpx.AsyncClient], key: str) -> dict[str, tuple[int, str | None]]:
    found = {}
    for name, path in PROBES.items():
        response = await clients[name].get(path, headers=auth(key))
        found[name] = (
            response.status_code,
            response.json().get("error") if response.status_code >= 400 else None,
        )
    return found


async def everywhere(
    clients: dict[str, httpx.AsyncClient], key: str, expected: tuple[int, str | None]
) -> None:
    """Every service answers `key` so within seconds (no restart in between)."""

    async def probe() -> dict[str, tuple[int, str | None]] | None:
        seen = await answers(clients, key)
        return seen if all(answer == expected for answer in seen.values()) else None

    await eventually(probe, timeout=15.0, interval=0.1)


async def admin(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return await client.request(method, path, headers=auth(ADMIN), **kwargs)


async def test_a_new_shop_and_key_work_everywhere_and_revoking_or_suspending_reaches_every_service(
    infra: Settings,
) -> None:
    async with stack(infra) as clients:
        intake = clients["intake"]
        assert (await intake.post("/v1/admin/shops", json={"id": "x", "name": "X"})).status_code == 401
        with_shop_key = await intake.post(
            "/v1/admin/shops", json={"id": "x", "name": "X"}, headers=auth(KEY_A)
        )
        assert with_shop_key.status_code == 401
        created = await admin(
            intake,
            "POST",
            "/v1/admin/shops",
            json={
                "id": "shop-new",
                "name": "Neu",
                "timezone": "Europe/Berlin",
                "locale": "de",
                "country": "DE",
            },
        )
        assert created.status_code == 201, created.text
        assert (created.json()["status"], created.json()["keys"]) == ("active", [])
        again = await admin(intake, "POST", "/v1/admin/shops", json={"id": "shop-new", "name": "Neu"})
        assert (again.status_code, again.json()["error"]) == (409, "shop_exists")

        first = (
            await admin(intake, "POST", "/v1/admin/shops/shop-new/keys", json={"name": "helpdesk"})
        ).json()
        assert first["key"].startswith("clk_")
        await everywhere(clients, first["key"], (200, None))

        # rotation: a second key works beside the first, then the first is revoked
        second = (
            await admin(intake, "POST", "/v1/admin/shops/shop-new/keys", json={"name": "helpdesk-2"})
        ).json()
        await everywhere(clients, second["key"], (200, None))
        assert (await answers(clients, first["key"]))["survey"] == (200, None)
        revoked = await admin(intake, "DELETE", f"/v1/admin/shops/shop-new/keys/{first['key_id']}")
        assert revoked.status_code == 204
        await everywhere(clients, first["key"], (401, "unauthorized"))
        await everywhere(clients, second["key"], (200, None))

        suspended = await admin(intake, "POST", "/v1/admin/shops/shop-new/suspend")
        assert suspended.json()["status"] == "suspended"
        await everywhere(clients, second["key"], (403, "shop_suspended"))
        await everywhere(clients, KEY_B, (200, None))  # another shop is untouched
        await admin(intake, "POST", "/v1/admin/shops/shop-new/resume")
        await everywhere(clients, second["key"], (200, None))

        shop = (await admin(intake, "GET", "/v1/admin/shops/shop-new")).json()
        keys = {k["key_id"]: k for k in shop["keys"]}
        assert keys[first["key_id"]]["revoked_at"] is not None
        assert keys[second["key_id"]]["revoked_at"] is None
        assert "key" not in keys[second["key_id"]]
        assert second["key"] not in str(shop)
        # every service keeps the shop's latest state in its own table, for its next start
        for name in SERVICES:
            conn = await service_connection(infra, name)
            try:
                version = await conn.fetchval("SELECT version FROM shop_states WHERE shop_id = 'shop-new'")
            finally:
                await conn.close()
            assert version == shop["version"], name


def order_events(shop: str, order: str) -> list[Any]:
    who = Customer(id=f"c-{order}", email=f"{order}@example.com", locale="pl-PL")
    at = datetime.now(UTC)
    shipped = OrderShipped(
        shop_id=shop,
        order_id=order,
        customer=who,
        carrier="dpd",
        tracking_number=f"T-{order}",
        promised_delivery_date=date.today(),
    )
    delivered = OrderDelivered(shop_id=shop, order_id=order, customer=who, delivered_at=at)
    return [
        make_event("order.shipped", "shop", shipped, subject=order, time=at),
        make_event("order.delivered", "shop", delivered, subject=order, time=at),
    ]


async def rows(settings: Settings, service: str, query: str, *args: Any) -> list[Any]:
    conn = await service_connection(settings, service)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def test_a_suspended_shops_events_are_held_with_the_reason_and_applied_after_resume(
    infra: Settings,
) -> None:
    async with stack(infra) as clients:
        intake = clients["intake"]
        # the file's shops are seeded onto shops.state at intake's start
        await eventually(lambda: _status(intake, SHOP_A), timeout=15.0)
        await admin(intake, "POST", f"/v1/admin/shops/{SHOP_A}/suspend")
        await everywhere(clients, KEY_A, (403, "shop_suspended"))

        for event in order_events(SHOP_A, "o-held") + order_events(SHOP_B, "o-free"):
            await produce(infra, "orders.events", event)

        async def held_everywhere() -> dict[str, list[Any]]:
            query = "SELECT consumer, shop_id, event_type, reason FROM held_events ORDER BY id"
            found = {name: await rows(infra, name, query) for name in SERVICES}
            both = len([r for r in found["intake"] if r["consumer"] == "intake-orders"]) == 2
            return found if both and all(found.values()) else {}

        held = await eventually(held_everywhere, timeout=20.0)
        for name, found in held.items():
            assert {r["shop_id"] for r in found} == {SHOP_A}, name
            assert all(r["reason"].startswith(f"shop_suspended: shop {SHOP_A} is suspended") for r in found)
        intake_held = [r["event_type"] for r in held["intake"] if r["consumer"] == "intake-orders"]
        assert intake_held == ["order.shipped", "order.delivered"]
        # the other shop's events went through meanwhile; the suspended shop's did not take effect
        await eventually(lambda: rows(infra, "intake", "SELECT 1 FROM orders WHERE order_id = 'o-free'"))
        assert await rows(infra, "intake", "SELECT 1 FROM orders WHERE order_id = 'o-held'") == []

        await admin(intake, "POST", f"/v1/admin/shops/{SHOP_A}/resume")

        async def released() -> bool:
            left = [await rows(infra, name, "SELECT 1 FROM held_events") for name in SERVICES]
            return not any(left)

        await eventually(released, timeout=20.0)
        order = await rows(
            infra, "intake", "SELECT status FROM orders WHERE shop_id = $1 AND order_id = 'o-held'", SHOP_A
        )
        assert [r["status"] for r in order] == ["delivered"]  # applied in order: shipped, then delivered
        assert await rows(
            infra, "sla", "SELECT 1 FROM promises WHERE shop_id = $1 AND order_id = 'o-held'", SHOP_A
        )
        invited = "SELECT 1 FROM invitations WHERE shop_id = $1 AND order_id = 'o-held'"
        assert await eventually(lambda: rows(infra, "survey", invited, SHOP_A))
        for name in SERVICES:
            assert await rows(infra, name, "SELECT reason FROM dead_letters") == [], name


async def _status(client: httpx.AsyncClient, shop_id: str) -> bool:
    return (await admin(client, "GET", f"/v1/admin/shops/{shop_id}")).status_code == 200
