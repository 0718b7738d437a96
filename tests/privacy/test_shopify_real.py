"""Shopify's compliance webhooks over the real Kafka and Postgres (docs/privacy.md): signed
`customers/redact`, `customers/data_request` and `shop/redact` become privacy requests on the same
path as the API's, once however often Shopify retries them, naming the customer's orders by the
numbers the shop knows; a body that names nobody is refused. After the erasure, an order webhook
about the same customer is kept without them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from runtime.settings import Settings
from schemas import topics
from schemas.registry import decode_event
from services.intake.domain.platforms.deliveries import Platform
from tests.platforms.payloads import fixture
from tests.platforms.senders import SHOPIFY_SECRET, add_secret, raw_of, shopify_headers
from tests.support.kafka import read_topic
from tests.support.shops import KEY_A, SHOP_A, auth
from tests.support.stack import http_client, running_service
from tests.support.wait import eventually

pytestmark = pytest.mark.timeout(300)

SHOPIFY = f"/v1/platforms/shopify/{SHOP_A}"
ORDER = fixture(Platform.SHOPIFY, "orders_paid")


async def send(
    client: httpx.AsyncClient, topic: str, body: dict[str, Any], event_id: str | None = None
) -> httpx.Response:
    raw = raw_of(body)
    return await client.post(SHOPIFY, content=raw, headers=shopify_headers(topic, raw, event_id=event_id))


async def requests_of(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = (await client.get("/v1/privacy/requests", headers=auth(KEY_A))).json()[
        "requests"
    ]
    return listed


async def test_compliance_webhooks_become_privacy_requests(infra: Settings) -> None:
    async with running_service(infra, "intake") as app, http_client(app) as client:
        await add_secret(client, "shopify", SHOPIFY_SECRET)
        paid = await send(client, "orders/paid", ORDER.body)
        assert paid.json()["outcome"] == "applied"
        customer = ORDER.body["customer"]
        redact = {
            "shop_id": 954889,
            "shop_domain": "sklep-demo.myshopify.com",
            "customer": {"id": customer["id"], "email": customer["email"], "phone": None},
            "orders_to_redact": [ORDER.body["id"]],
        }
        first = await send(client, "customers/redact", redact, event_id="redact-1")
        again = await send(client, "customers/redact", redact, event_id="redact-1")  # Shopify's retry
        assert first.status_code == 200, first.text
        assert (first.json(), again.json()) == ({"outcome": "applied"}, {"outcome": "duplicate"})
        data_request = {**redact, "data_request": {"id": 9999}, "orders_requested": [ORDER.body["id"]]}
        del data_request["orders_to_redact"]
        assert (await send(client, "customers/data_request", data_request)).json() == {"outcome": "applied"}
        nobody = await send(client, "customers/redact", {"shop_id": 954889, "customer": {}})
        assert nobody.status_code == 422
        assert nobody.json()["error"] == "invalid_compliance_request"

        listed = await requests_of(client)
        assert sorted((r["kind"], r["scope"], r["source"]) for r in listed) == [
            ("erasure", "customer", "shopify"),
            ("export", "customer", "shopify"),
        ]
        records = await read_topic(infra, topics.PRIVACY.name, at_least=2)
        asked = [
            e.data for e in (decode_event(r.value or b"") for r in records) if e.type == "privacy.requested"
        ]
        erasure = next(a for a in asked if a.kind == "erasure" and a.scope == "customer")
        assert erasure.customer_ids == [str(customer["id"])]
        assert erasure.emails == [customer["email"]]
        assert erasure.order_ids == [ORDER.body["name"]]  # the number the shop and its customer know
        assert erasure.source == "shopify"

        # intake applies its own part of the erasure; an order webhook about her after that keeps her out
        async def erased() -> bool:
            rows = await app.runtime.db.fetch(
                "SELECT 1 FROM erased_customers WHERE shop_id = $1 AND kind = 'customer'", SHOP_A
            )
            return bool(rows)

        await eventually(erased, timeout=60)
        created = {
            **fixture(Platform.SHOPIFY, "orders_create").body,
            "updated_at": "2024-03-05T10:00:00+01:00",
        }
        assert (await send(client, "orders/create", created)).status_code == 200
        stored = await app.runtime.db.fetch("SELECT customer FROM platform_orders WHERE shop_id = $1", SHOP_A)
        assert stored
        for row in stored:
            assert customer["email"] not in str(row["customer"])
            assert str(row["customer"]["id"]).startswith("erased:")

        # the whole shop, 48 hours after the app was uninstalled
        gone = await send(
            client, "shop/redact", {"shop_id": 954889, "shop_domain": "sklep-demo.myshopify.com"}
        )
        assert gone.json() == {"outcome": "applied"}
        assert ("erasure", "shop") in {(r["kind"], r["scope"]) for r in await requests_of(client)}
