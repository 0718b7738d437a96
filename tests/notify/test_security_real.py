"""SSRF refusals, redirects, secret rotation and API input checks over the real stack."""

from __future__ import annotations

from datetime import timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from runtime.settings import Settings
from schemas import topics
from services.notify.domain.signing import new_secret
from services.notify.repository import endpoints
from tests.notify.harness import (
    api,
    attempt_rows,
    config,
    create_endpoint,
    delivery_rows,
    manual_clock_at_wall_now,
    order_event,
    running_notify,
)
from tests.notify.receiver import Received, Receiver, Reply
from tests.support.kafka import produce
from tests.support.shops import KEY_A, SHOP_A, auth
from tests.support.wait import eventually

pytestmark = pytest.mark.kafka


async def test_internal_addresses_are_refused_without_an_allowlist(infra: Settings) -> None:
    receiver = await Receiver().start()
    try:
        async with running_notify(infra, config(allow_loopback=False)) as app, api(app) as client:
            for url, kind in (
                (receiver.url(), "loopback"),
                (f"http://localhost:{receiver.port}/hook", "loopback"),
                ("http://[::1]/hook", "loopback"),
                ("http://10.1.2.3/hook", "private"),
                ("http://192.168.0.7:8080/hook", "private"),
                ("http://169.254.169.254/latest/meta-data", "link-local"),
                ("http://0.0.0.0/", "unspecified"),
            ):
                response = await client.post("/v1/endpoints", json={"url": url}, headers=auth(KEY_A))
                assert response.status_code == 422, url
                assert response.json()["detail"].startswith("url refused: "), url
                assert kind in response.json()["detail"], url
            for url, problem in (
                ("file:///etc/passwd", "the URL must be http or https"),
                ("http://user:pw@example.com/", "credentials in the URL are not allowed"),
            ):
                response = await client.post("/v1/endpoints", json={"url": url}, headers=auth(KEY_A))
                assert response.status_code == 422
                assert problem in response.json()["detail"]

            # An endpoint whose address became internal after it was accepted (DNS rebinding, a policy
            # change): refused at connect time, nothing reaches the receiver.
            now = app.runtime.clock.now()
            async with app.runtime.db.transaction() as conn:
                await endpoints.insert_endpoint(
                    conn,
                    endpoints.Endpoint(
                        "ep_rebound", SHOP_A, receiver.url(), "", ["*"], None, True, None, None,
                        new_secret(b"k" * 24), None, None, None, 0, None, now, now,
                    ),
                )  # fmt: skip
            await produce(infra, topics.ORDERS.name, order_event("order.created", "o-1"))

            async def refused_attempt() -> list[dict[str, object]]:
                rows = await delivery_rows(app)
                return await attempt_rows(app, rows[0]["id"]) if rows else []

            [attempt] = await eventually(refused_attempt)
            assert attempt["outcome"] == "refused"
            assert attempt["error"] == (
                "refused by egress policy: 127.0.0.1 resolves to 127.0.0.1, a loopback address,"
                " not allowlisted"
            )
            assert receiver.requests == []
    finally:
        await receiver.stop()


async def test_an_operator_allowlist_admits_named_networks(infra: Settings) -> None:
    receiver = await Receiver().start()
    try:
        cfg = config(allow_loopback=False, allowed_private_hosts="10.0.0.0/8, 127.0.0.0/8")
        async with running_notify(infra, cfg) as app, api(app) as client:
            await create_endpoint(client, receiver.url())
            refused = await client.post(
                "/v1/endpoints", json={"url": "http://192.168.1.1/"}, headers=auth(KEY_A)
            )
            assert refused.status_code == 422
            await produce(infra, topics.ORDERS.name, order_event("order.created", "o-2"))
            await eventually(lambda: _count(receiver, 1))
    finally:
        await receiver.stop()


async def _count(receiver: Receiver, n: int) -> bool:
    return len(receiver.requests) >= n


async def test_redirects_are_not_followed(infra: Settings) -> None:
    async def redirect(request: Received) -> Reply:
        return Reply(307, b"", (("location", "/elsewhere"),))

    receiver = await Receiver(redirect).start()
    try:
        async with running_notify(infra, config()) as app, api(app) as client:
            await create_endpoint(client, receiver.url())
            await produce(infra, topics.ORDERS.name, order_event("order.created", "o-3"))

            async def first_attempt() -> list[dict[str, object]]:
                rows = await delivery_rows(app)
                return await attempt_rows(app, rows[0]["id"]) if rows else []

            [attempt] = await eventually(first_attempt)
            assert (attempt["outcome"], attempt["status_code"]) == ("http_error", 307)
            assert receiver.by_path("/elsewhere") == []
            assert len(receiver.by_path("/hook")) == 1
    finally:
        await receiver.stop()


async def test_secret_rotation_signs_with_both_during_the_overlap_then_only_the_new(infra: Settings) -> None:
    clock = manual_clock_at_wall_now()
    receiver = await Receiver().start()
    try:
        async with running_notify(infra, config(), clock) as app, api(app) as client:
            endpoint = await create_endpoint(client, receiver.url())
            old = endpoint["secret"]
            rotated = await client.post(
                f"/v1/endpoints/{endpoint['id']}/secret/rotate",
                json={"overlap_seconds": 60},
                headers=auth(KEY_A),
            )
            assert rotated.status_code == 200
            new = rotated.json()["secret"]
            assert new.startswith("whsec_")
            assert new != old
            shown = (await client.get(f"/v1/endpoints/{endpoint['id']}", headers=auth(KEY_A))).json()
            assert "secret" not in shown
            assert shown["previous_secret_expires_at"] is not None

            await produce(infra, topics.ORDERS.name, order_event("order.created", "o-r1"))
            await eventually(lambda: _count(receiver, 1))
            during = receiver.requests[0]
            assert len(during.headers["webhook-signature"].split(" ")) == 2
            Webhook(old).verify(during.body, during.headers)
            Webhook(new).verify(during.body, during.headers)

            clock.advance(timedelta(seconds=61))
            await produce(infra, topics.ORDERS.name, order_event("order.created", "o-r2"))
            await eventually(lambda: _count(receiver, 2))
            after = receiver.requests[1]
            Webhook(new).verify(after.body, after.headers)
            with pytest.raises(WebhookVerificationError):
                Webhook(old).verify(after.body, after.headers)
    finally:
        await receiver.stop()


async def test_api_checks_keys_input_and_templates(infra: Settings) -> None:
    receiver = await Receiver().start()
    try:
        async with running_notify(infra, config()) as app, api(app) as client:
            assert (await client.get("/v1/endpoints")).status_code == 401
            wrong = await client.get("/v1/endpoints", headers=auth("clk_wrong"))
            assert (wrong.status_code, wrong.json()["detail"]) == (401, "unknown API key")
            bad = await client.post(
                "/v1/endpoints", json={"url": receiver.url(), "event_types": ["order*"]}, headers=auth(KEY_A)
            )
            assert bad.status_code == 422
            assert bad.json()["error"] == "invalid_request"
            huge = await client.post(
                "/v1/endpoints", content=b"{" + b" " * 300_000 + b"}", headers=auth(KEY_A)
            )
            assert huge.status_code == 413

            broken = await client.put(
                "/v1/templates/order.created/pl", json={"subject": "{{ x", "text": "t"}, headers=auth(KEY_A)
            )
            assert broken.status_code == 422
            assert (await client.put(
                "/v1/templates/order.teleported/pl", json={"subject": "s", "text": "t"}, headers=auth(KEY_A)
            )).status_code == 404  # fmt: skip
            own = await client.put(
                "/v1/templates/order.created/pl",
                json={"subject": "Mamy to! {{ order_id }}", "text": "Dzięki, {{ customer.name }}."},
                headers=auth(KEY_A),
            )
            assert own.status_code == 200
            listed = (await client.get("/v1/templates", headers=auth(KEY_A))).json()
            sources = {(t["event_type"], t["language"]): t["source"] for t in listed}
            assert sources[("order.created", "pl")] == "shop"
            assert sources[("order.created", "en")] == "default"

            await create_endpoint(client, receiver.url(), event_types=["order.created"])
            await produce(infra, topics.ORDERS.name, order_event("order.paid", "o-t"))  # filtered out
            await produce(infra, topics.ORDERS.name, order_event("order.created", "o-t"))
            await eventually(lambda: _count(receiver, 1))
            message = receiver.requests[0].json()["data"]["customer_message"]
            assert message == {
                "locale": "pl",
                "subject": "Mamy to! o-t",
                "text": "Dzięki, Anna.",
                "template": "shop",
            }
            assert [r.json()["type"] for r in receiver.requests] == ["order.created"]

            deleted = await client.delete("/v1/templates/order.created/pl", headers=auth(KEY_A))
            assert deleted.status_code == 204
            assert (
                await client.delete("/v1/templates/order.created/pl", headers=auth(KEY_A))
            ).status_code == 404
    finally:
        await receiver.stop()
