"""The platform adapters in a running intake over real Postgres and Kafka: signed deliveries over HTTP
become events on orders.events once; forged, duplicate, stale and unmappable deliveries do not."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from runtime.service import ServiceApp
from runtime.settings import Settings
from schemas import topics
from schemas.registry import decode_event
from services.intake.domain.platforms.deliveries import Platform
from tests.platforms.payloads import fixture
from tests.platforms.senders import (
    SHOPIFY_SECRET,
    WOO_SECRET,
    add_secret,
    raw_of,
    shopify_headers,
    woo_headers,
)
from tests.support.kafka import read_topic
from tests.support.shops import KEY_A, KEY_B, SHOP_A, SHOP_B, auth
from tests.support.stack import http_client, running_service
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

SHOPIFY = f"/v1/platforms/shopify/{SHOP_A}"
WOO = f"/v1/platforms/woocommerce/{SHOP_A}"
T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


def delivered(platform: str, topic: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "careloop_intake_platform_deliveries_total",
        {"platform": platform, "topic": topic, "outcome": outcome},
    )
    return value or 0.0


@asynccontextmanager
async def running_intake(infra: Settings) -> AsyncIterator[tuple[ServiceApp, httpx.AsyncClient]]:
    """Intake with the test shop's secrets for both platforms. (Entered inside each test: a fixture's
    teardown runs in another task than its setup, which the service's lifespan refuses.)"""
    async with running_service(infra, "intake") as app, http_client(app) as client:
        await add_secret(client, "shopify", SHOPIFY_SECRET)
        await add_secret(client, "woocommerce", WOO_SECRET)
        yield app, client


async def shopify(
    client: httpx.AsyncClient, name: str, at: datetime, event_id: str | None = None, **changes: Any
) -> httpx.Response:
    f = fixture(Platform.SHOPIFY, name)
    raw = raw_of({**f.body, **changes}) if changes else f.raw
    return await client.post(
        SHOPIFY, content=raw, headers=shopify_headers(f.topic, raw, event_id=event_id, triggered_at=at)
    )


async def order_events(infra: Settings, at_least: int) -> list[tuple[str, Any]]:
    records = await read_topic(infra, topics.ORDERS.name, at_least=at_least)
    return [(r.key.decode() if r.key else "", decode_event(r.value)) for r in records]


async def test_signed_shopify_deliveries_become_order_events_once(infra: Settings) -> None:
    async with running_intake(infra) as (app, client):
        applied_before = delivered("shopify", "orders/create", "applied")
        answers = [
            await shopify(client, "orders_create", T0, event_id="ev-1"),
            await shopify(client, "orders_create", T0, event_id="ev-1"),  # Shopify's retry
            await shopify(client, "orders_paid", T0 + timedelta(minutes=2)),
            await shopify(client, "fulfillments_update.delivered", T0 + timedelta(days=2)),
            await shopify(client, "fulfillments_update.out_for_delivery", T0 + timedelta(days=1)),  # late
        ]
        assert [(a.status_code, a.json()["outcome"]) for a in answers] == [
            (200, "applied"),
            (200, "duplicate"),
            (200, "applied"),
            (200, "applied"),
            (200, "stale"),
        ]
        events = await order_events(infra, at_least=3)
        assert [(key, e.type) for key, e in events] == [
            ("#1042", "order.created"),
            ("#1042", "order.paid"),
            ("#1042", "order.delivered"),
        ]
        created = events[0][1]
        assert created.data.shop_id == SHOP_A
        assert created.data.customer.email == "anna.kowalska@example.com"
        assert created.time == T0
        assert created.source == "careloop/intake/platforms/shopify"
        assert delivered("shopify", "orders/create", "applied") == applied_before + 1
        row = await app.runtime.db.pool.fetchrow(
            "SELECT order_id, status, position_at FROM platform_orders"
            " WHERE shop_id = $1 AND platform_order_id = $2",
            SHOP_A,
            "5712345678123",
        )
        assert row is not None
        assert (row["order_id"], row["status"]) == ("#1042", "order.delivered")
        assert row["position_at"] == T0 + timedelta(days=2)
        # intake's own order context followed the published events
        status = await eventually(
            lambda: app.runtime.db.pool.fetchval(
                "SELECT status FROM orders WHERE shop_id = $1 AND order_id = $2 AND status = 'delivered'",
                SHOP_A,
                "#1042",
            )
        )
        assert status == "delivered"


async def test_forged_or_unknown_senders_get_401_and_a_metric(infra: Settings) -> None:
    async with running_intake(infra) as (app, client):
        f = fixture(Platform.SHOPIFY, "orders_create")
        before = delivered("shopify", "orders/create", "unauthorized")
        forged = shopify_headers(f.topic, f.raw, secret="not-the-shops-secret")
        unsigned = {k: v for k, v in forged.items() if k != "X-Shopify-Hmac-Sha256"}
        tampered = f.raw.replace(b"222.98", b"2.98")
        answers = [
            await client.post(SHOPIFY, content=f.raw, headers=forged),
            await client.post(SHOPIFY, content=f.raw, headers=unsigned),
            await client.post(SHOPIFY, content=tampered, headers=shopify_headers(f.topic, f.raw)),
            await client.post(
                "/v1/platforms/shopify/no-such-shop", content=f.raw, headers=shopify_headers(f.topic, f.raw)
            ),
            # shop B has no Shopify secret at all
            await client.post(
                f"/v1/platforms/shopify/{SHOP_B}", content=f.raw, headers=shopify_headers(f.topic, f.raw)
            ),
        ]
        assert [a.status_code for a in answers] == [401] * 5
        assert answers[0].json()["error"] == "bad_signature"
        assert delivered("shopify", "orders/create", "unauthorized") == before + 5
        garbage = await client.post(SHOPIFY, content=b"{}", headers={**forged, "X-Shopify-Topic": "x" * 300})
        assert garbage.status_code == 401
        assert delivered("shopify", "other", "unauthorized") >= 1  # a sender's topic never becomes a label
        rows = await app.runtime.db.pool.fetchval("SELECT count(*) FROM platform_deliveries")
        assert rows == 0
        assert await order_events(infra, at_least=0) == []


async def test_a_rotation_accepts_both_secrets_until_the_old_one_is_deleted(infra: Settings) -> None:
    async with running_intake(infra) as (_, client):
        new = await add_secret(client, "shopify", "shpss_the_new_one_after_rotation")
        listed = (await client.get("/v1/platforms/secrets", headers=auth(KEY_A))).json()["secrets"]
        assert len(listed) == 3
        assert all("secret" not in s for s in listed)
        assert new["delivery_path"] == SHOPIFY
        f = fixture(Platform.SHOPIFY, "orders_create")
        old_signed = shopify_headers(f.topic, f.raw)
        new_signed = shopify_headers(f.topic, f.raw, secret="shpss_the_new_one_after_rotation")
        assert (await client.post(SHOPIFY, content=f.raw, headers=old_signed)).status_code == 200
        assert (await client.post(SHOPIFY, content=f.raw, headers=new_signed)).status_code == 200
        old = next(s for s in listed if s["platform"] == "shopify" and s["id"] != new["id"])
        deleted = await client.delete(f"/v1/platforms/secrets/{old['id']}", headers=auth(KEY_A))
        assert deleted.status_code == 204
        again = shopify_headers(f.topic, f.raw)
        assert (await client.post(SHOPIFY, content=f.raw, headers=again)).status_code == 401
        # another shop's key neither sees nor deletes shop A's secrets
        assert (await client.get("/v1/platforms/secrets", headers=auth(KEY_B))).json() == {"secrets": []}
        assert (
            await client.delete(f"/v1/platforms/secrets/{new['id']}", headers=auth(KEY_B))
        ).status_code == 404


async def test_unmappable_and_waiting_deliveries_are_kept_and_shown(infra: Settings) -> None:
    async with running_intake(infra) as (app, client):
        untracked = await shopify(
            client, "fulfillments_create", T0 + timedelta(days=1), tracking_number=None, tracking_numbers=[]
        )
        refund = await shopify(client, "refunds_create", T0 + timedelta(days=9))
        not_json = await client.post(
            SHOPIFY, content=b"<order/>", headers=shopify_headers("orders/create", b"<order/>")
        )
        assert [a.json()["outcome"] for a in (untracked, refund, not_json)] == [
            "dead_letter",
            "waiting",
            "dead_letter",
        ]
        page = (await client.get("/v1/platforms/dead-letters", headers=auth(KEY_A))).json()
        kept = {d["topic"]: d for d in page["dead_letters"]}
        assert "no tracking number" in kept["fulfillments/create"]["reason"]
        assert kept["fulfillments/create"]["waiting"] is False
        assert kept["fulfillments/create"]["payload"]["order_id"] == 5712345678123
        assert kept["refunds/create"]["waiting"] is True
        assert kept["orders/create"]["reason"] == "the body is not JSON"
        assert kept["orders/create"]["payload"] == "<order/>"
        assert (await client.get("/v1/platforms/dead-letters", headers=auth(KEY_B))).json()[
            "dead_letters"
        ] == []

        created = await shopify(client, "orders_create", T0)
        assert created.json()["outcome"] == "applied"
        events = await order_events(infra, at_least=2)
        assert [e.type for _, e in events] == ["order.created", "refund.issued"]
        assert events[1][1].data.amount == 118
        page = (await client.get("/v1/platforms/dead-letters", headers=auth(KEY_A))).json()
        assert sorted(d["topic"] for d in page["dead_letters"]) == ["fulfillments/create", "orders/create"]
        outcomes = await app.runtime.db.pool.fetch(
            "SELECT topic, outcome FROM platform_deliveries WHERE shop_id = $1 ORDER BY topic, outcome",
            SHOP_A,
        )
        assert [(r["topic"], r["outcome"]) for r in outcomes] == [
            ("fulfillments/create", "dead_letter"),
            ("orders/create", "applied"),
            ("orders/create", "dead_letter"),
            ("refunds/create", "applied"),  # waiting until the order was known
        ]


async def test_test_pings_and_the_woocommerce_handshake_are_answered(infra: Settings) -> None:
    async with running_intake(infra) as (_, client):
        ping = await shopify(client, "orders_create", T0, test=True)
        assert (ping.status_code, ping.json()["outcome"]) == (200, "test")
        handshake = await client.post(
            WOO, content=b"webhook_id=12", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert (handshake.status_code, handshake.json()["outcome"]) == (200, "handshake")
        stranger = await client.post("/v1/platforms/woocommerce/no-such-shop", content=b"webhook_id=12")
        assert stranger.status_code == 401
        ignored = await client.post(
            SHOPIFY, content=b'{"id": 1}', headers=shopify_headers("products/update", b'{"id": 1}')
        )
        assert ignored.json()["outcome"] == "ignored"
        assert delivered("shopify", "other", "ignored") >= 1
        assert await order_events(infra, at_least=0) == []


async def test_signed_woocommerce_updates_give_events_only_for_what_careloop_models(infra: Settings) -> None:
    async with running_intake(infra) as (_, client):

        async def woo(name: str, **changes: Any) -> str:
            f = fixture(Platform.WOOCOMMERCE, name)
            raw = raw_of({**f.body, **changes}) if changes else f.raw
            answer = await client.post(WOO, content=raw, headers=woo_headers(f.topic, raw))
            assert answer.status_code == 200, answer.text
            outcome: str = answer.json()["outcome"]
            return outcome

        processing = fixture(Platform.WOOCOMMERCE, "order.updated.processing").body
        outcomes = [
            await woo("order.created.pending"),
            await woo("order.updated.processing"),
            # a note or an address edited an hour later: the same status, nothing new for CareLoop
            await woo(
                "order.updated.processing",
                customer_note="Proszę dzwonić przed dostawą",
                date_modified_gmt="2024-03-04T11:02:44",
            ),
            await woo("order.updated.on-hold", date_modified_gmt="2024-03-04T08:00:00"),  # older: stale
            await woo("order.updated.completed"),
        ]
        assert outcomes == ["applied", "applied", "unchanged", "stale", "applied"]
        assert processing["number"] == "727"
        events = await order_events(infra, at_least=3)
        assert [(key, e.type) for key, e in events] == [
            ("727", "order.created"),
            ("727", "order.paid"),
            ("727", "order.shipped"),
        ]
        assert events[2][1].data.tracking_number == "0000412345678U"
        assert json.loads(events[1][1].model_dump_json())["data"]["payment_method"] == "Przelew bankowy"
