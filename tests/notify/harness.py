"""Running the notify service in-process for the real tests, and small helpers around it."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from runtime.clock import ManualClock
from runtime.provision import ensure_service_schema
from runtime.service import ServiceApp
from runtime.settings import Settings
from schemas.envelope import CloudEvent
from schemas.registry import make_event
from schemas.v1.common import Customer
from schemas.v1.orders import OrderCreated, OrderDelivered, OrderPaid, OrderShipped
from services.notify import bootstrap
from services.notify.config import NotifyConfig
from tests.support.shops import KEY_A, SHOP_A, auth
from tests.support.stack import http_client, wait_ready
from tests.support.wait import eventually

ROOT = Path(__file__).resolve().parents[2]

FAST = {
    "allow_loopback": True,
    "poll_seconds": 0.05,
    "retry_jitter": 0.0,
    "gauge_seconds": 0.5,
}


def config(**overrides: Any) -> NotifyConfig:
    return NotifyConfig(**{**FAST, **overrides})


@asynccontextmanager
async def running_notify(
    settings: Settings, cfg: NotifyConfig, clock: ManualClock | None = None
) -> AsyncIterator[ServiceApp]:
    service_settings = settings.for_service("notify")
    await ensure_service_schema(service_settings)
    app = bootstrap.build(service_settings, cfg)
    if clock is not None:
        app.runtime.clock = clock
    async with app.start_lifespan_context():
        await wait_ready(app)
        yield app


def manual_clock_at_wall_now() -> ManualClock:
    # Receivers check webhook-timestamp against their wall clock; domain time starts there too.
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


async def create_endpoint(
    client: httpx.AsyncClient, url: str, key: str = KEY_A, **fields: Any
) -> dict[str, Any]:
    response = await client.post("/v1/endpoints", json={"url": url, **fields}, headers=auth(key))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def customer(locale: str = "pl-PL") -> Customer:
    return Customer(id="c-1", email="anna@example.com", name="Anna", locale=locale)


def order_event(step: str, order_id: str, shop_id: str = SHOP_A, locale: str = "pl-PL") -> CloudEvent[Any]:
    common: dict[str, Any] = {"shop_id": shop_id, "order_id": order_id, "customer": customer(locale)}
    data: Any
    if step == "order.created":
        data = OrderCreated(**common, total=Decimal("120.00"), currency="PLN")
    elif step == "order.paid":
        data = OrderPaid(**common, amount=Decimal("120.00"), currency="PLN")
    elif step == "order.shipped":
        data = OrderShipped(
            **common, carrier="InPost", tracking_number="TRK-1", promised_delivery_date="2026-01-08"
        )
    elif step == "order.delivered":
        data = OrderDelivered(**common, delivered_at=datetime(2026, 1, 7, 12, tzinfo=UTC))
    else:
        raise ValueError(step)
    return make_event(step, "shop-platform", data, subject=order_id)


STEPS = ("order.created", "order.paid", "order.shipped", "order.delivered")


async def delivery_rows(app: ServiceApp, where: str = "true", *args: Any) -> list[dict[str, Any]]:
    rows = await app.runtime.db.pool.fetch(f"SELECT * FROM deliveries WHERE {where} ORDER BY seq", *args)  # noqa: S608
    return [dict(r) for r in rows]


async def attempt_rows(app: ServiceApp, delivery_id: str) -> list[dict[str, Any]]:
    rows = await app.runtime.db.pool.fetch(
        "SELECT * FROM attempts WHERE delivery_id = $1 ORDER BY id", delivery_id
    )
    return [dict(r) for r in rows]


def api(app: ServiceApp) -> httpx.AsyncClient:
    return http_client(app)


async def start_notify_process(infra: Settings, port: int, log_file: Any) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        "DATABASE_URL": infra.database_url.get_secret_value(),
        "CARELOOP_TOPIC_PREFIX": infra.topic_prefix,
        "CARELOOP_SCHEMA_PREFIX": infra.schema_prefix,
        "CARELOOP_SHOPS_FILE": str(infra.shops_file),
        "CARELOOP_HTTP_PORT": str(port),
        "NOTIFY_ALLOW_LOOPBACK": "true",
        "NOTIFY_TIMEOUT_SECONDS": "5",
        "NOTIFY_LEASE_MARGIN_SECONDS": "1",
        "NOTIFY_POLL_SECONDS": "0.1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.notify", cwd=ROOT, env=env, stdout=log_file, stderr=log_file
    )

    async def ready() -> bool:
        try:
            async with httpx.AsyncClient(timeout=1.0) as client:
                return (await client.get(f"http://127.0.0.1:{port}/health/ready")).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(ready, timeout=40, interval=0.2)
    return process
