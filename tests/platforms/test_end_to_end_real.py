"""End to end over real Kafka and Postgres: a Shopify shop and a WooCommerce shop send signed webhooks
to intake; the order events they become reach the shop's own webhook endpoint through notify, signed
per Standard Webhooks, and open and settle the order's promises in sla, as any order event does."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from runtime.settings import Settings
from services.intake.domain.platforms.deliveries import Platform
from tests.faults.inprocess import running_services
from tests.notify.receiver import Receiver
from tests.platforms.payloads import fixture
from tests.platforms.senders import (
    SHOPIFY_SECRET,
    WOO_SECRET,
    add_secret,
    raw_of,
    shopify_headers,
    woo_headers,
)
from tests.support.shops import KEY_A, SHOP_A, auth
from tests.support.stack import http_client
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(180)]


def gmt(at: datetime) -> str:
    """WooCommerce's *_gmt timestamps: UTC without an offset."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


async def send_shopify(intake: httpx.AsyncClient, name: str, at: datetime, event_id: str) -> str:
    f = fixture(Platform.SHOPIFY, name)
    headers = shopify_headers(f.topic, f.raw, event_id=event_id, triggered_at=at)
    answer = await intake.post(f"/v1/platforms/shopify/{SHOP_A}", content=f.raw, headers=headers)
    assert answer.status_code == 200, answer.text
    outcome: str = answer.json()["outcome"]
    return outcome


async def send_woocommerce(intake: httpx.AsyncClient, name: str, at: datetime) -> str:
    f = fixture(Platform.WOOCOMMERCE, name)
    raw = raw_of({**f.body, "date_modified_gmt": gmt(at)})
    answer = await intake.post(
        f"/v1/platforms/woocommerce/{SHOP_A}", content=raw, headers=woo_headers(f.topic, raw)
    )
    assert answer.status_code == 200, answer.text
    outcome: str = answer.json()["outcome"]
    return outcome


async def test_platform_orders_reach_the_shops_webhooks_and_the_promises(infra: Settings) -> None:
    receiver = await Receiver().start()
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        async with (
            running_services(infra, ["intake", "notify", "sla"]) as apps,
            http_client(apps["intake"]) as intake,
            http_client(apps["notify"]) as notify,
        ):
            await add_secret(intake, "shopify", SHOPIFY_SECRET)
            await add_secret(intake, "woocommerce", WOO_SECRET)
            created = await notify.post(
                "/v1/endpoints", json={"url": receiver.url(), "event_types": ["order.*"]}, headers=auth(KEY_A)
            )
            assert created.status_code == 201, created.text
            secret = created.json()["secret"]

            outcomes = [
                await send_shopify(intake, "orders_create", now - timedelta(hours=3), "e-create"),
                await send_shopify(intake, "orders_paid", now - timedelta(hours=2), "e-paid"),
                await send_shopify(intake, "orders_paid", now - timedelta(hours=2), "e-paid"),  # a retry
                await send_shopify(intake, "fulfillments_create", now - timedelta(hours=1), "e-shipped"),
                await send_woocommerce(intake, "order.created.pending", now - timedelta(hours=3)),
                await send_woocommerce(intake, "order.updated.processing", now - timedelta(hours=2)),
                await send_woocommerce(intake, "order.updated.on-hold", now - timedelta(hours=4)),  # stale
            ]
            assert outcomes == ["applied", "applied", "duplicate", "applied", "applied", "applied", "stale"]

            wanted = {
                ("#1042", "order.created"),
                ("#1042", "order.paid"),
                ("#1042", "order.shipped"),
                ("727", "order.created"),
                ("727", "order.paid"),
            }

            async def webhooks() -> list[dict[str, Any]]:
                payloads = [Webhook(secret).verify(r.body, r.headers) for r in receiver.requests]
                got = {(p["data"]["order_id"], p["type"]) for p in payloads}
                return payloads if got >= wanted else []

            payloads = await eventually(webhooks, timeout=40)
            per_event = Counter(p["data"]["event_id"] for p in payloads)
            assert set(per_event.values()) == {1}, "an order event reached the shop twice"
            assert {(p["data"]["order_id"], p["type"]) for p in payloads} == wanted
            shipped = next(p for p in payloads if p["type"] == "order.shipped")
            assert shipped["data"]["tracking_number"] == "620512345678901234567890"
            assert shipped["data"]["customer_message"]["locale"] == "pl"  # the customer's language

            sla = apps["sla"].runtime.db.pool

            async def promises() -> set[tuple[str, str, str]]:
                rows = await sla.fetch(
                    "SELECT order_id, kind, status FROM promises WHERE shop_id = $1", SHOP_A
                )
                found = {(r["order_id"], r["kind"], r["status"]) for r in rows}
                return found if len(found) == 3 and ("#1042", "ship_by", "kept") in found else set()

            assert await eventually(promises, timeout=30) == {
                ("#1042", "ship_by", "kept"),  # paid, then shipped an hour later
                ("#1042", "delivery_date", "running"),  # shipped: the carrier's turn
                ("727", "ship_by", "running"),  # paid, not shipped yet
            }
    finally:
        await receiver.stop()
