"""What Shopify and WooCommerce send: the body as bytes and the headers, signed the way each platform
signs (base64 HMAC-SHA256 of the raw body with the shop's secret), computed here independently of
the code under test."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import datetime
from typing import Any

import httpx

from tests.support.shops import KEY_A, auth

SHOPIFY_SECRET = "shpss_test_0f1e2d3c4b5a69788796a5b4c3d2e1f0"
WOO_SECRET = "wc-test-secret: 5Lp!q9@Zt#2v"


def signature(raw: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def raw_of(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def shopify_headers(
    topic: str,
    raw: bytes,
    secret: str = SHOPIFY_SECRET,
    event_id: str | None = None,
    triggered_at: datetime | None = None,
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": signature(raw, secret),
        "X-Shopify-Shop-Domain": "sklep-demo.myshopify.com",
        "X-Shopify-API-Version": "2024-07",
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
    }
    if triggered_at is not None:
        headers["X-Shopify-Triggered-At"] = triggered_at.isoformat()
    return headers


def woo_headers(
    topic: str, raw: bytes, secret: str = WOO_SECRET, delivery_id: str | None = None
) -> dict[str, str]:
    resource, event = topic.split(".")
    return {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/8.6.1 Hookshot (WordPress/6.4.3)",
        "X-WC-Webhook-Source": "https://sklep.example/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": signature(raw, secret),
        "X-WC-Webhook-ID": "12",
        "X-WC-Webhook-Delivery-ID": delivery_id or uuid.uuid4().hex,
    }


async def add_secret(
    client: httpx.AsyncClient, platform: str, secret: str, key: str = KEY_A
) -> dict[str, Any]:
    response = await client.post(
        "/v1/platforms/secrets", json={"platform": platform, "secret": secret}, headers=auth(key)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
