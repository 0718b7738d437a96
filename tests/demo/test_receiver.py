"""The demo's webhook receiver, signed the way notify signs (services.notify.domain.signing) and
verified by the reference standardwebhooks package."""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Mapping

import httpx

from demo.receiver import PATH, WebhookReceiver
from services.notify.domain.signing import new_secret, webhook_headers

SECRET = new_secret(b"0123456789abcdef0123456789abcdef")
OTHER = new_secret(b"fedcba9876543210fedcba9876543210")


def delivery(
    webhook_id: str, event_type: str, data: Mapping[str, object], secret: str = SECRET
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"type": event_type, "timestamp": "2026-03-02T08:00:00Z", "data": data}).encode()
    return body, webhook_headers([secret], webhook_id, int(time.time()), body)


def client(receiver: WebhookReceiver) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app()), base_url="http://demo.test")


async def test_signed_deliveries_are_verified_and_invitations_handed_on_once() -> None:
    receiver = WebhookReceiver(failure_ratio=0.0, rng=random.Random(1))
    receiver.use_secret(SECRET)
    invitation = {"survey_id": "srv-1", "kind": "nps", "link": "http://127.0.0.1:8004/s/tok"}
    body, headers = delivery("msg_1", "survey.invited", invitation)
    async with client(receiver) as http:
        first = await http.post(PATH, content=body, headers=headers)
        again = await http.post(PATH, content=body, headers=headers)  # notify's at-least-once redelivery
        order_body, order_headers = delivery("msg_2", "order.shipped", {"order_id": "o-1"})
        shipped = await http.post(PATH, content=order_body, headers=order_headers)
        stats = (await http.get("/stats")).json()
    assert [first.status_code, again.status_code, shipped.status_code] == [204, 204, 204]
    assert stats == {
        "verified": 3,
        "bad_signature": 0,
        "answered_500": 0,
        "unique_deliveries": 2,
        "by_type": {"survey.invited": 1, "order.shipped": 1},
    }
    assert receiver.invitations.qsize() == 1
    assert receiver.invitations.get_nowait()["link"] == invitation["link"]


async def test_wrong_secret_tampered_body_and_stale_timestamp_are_refused() -> None:
    receiver = WebhookReceiver(failure_ratio=0.0, rng=random.Random(1))
    receiver.use_secret(SECRET)
    async with client(receiver) as http:
        body, headers = delivery("msg_1", "order.created", {}, secret=OTHER)
        wrong_secret = await http.post(PATH, content=body, headers=headers)
        body, headers = delivery("msg_2", "order.created", {"total": "1.00"})
        tampered = await http.post(PATH, content=body.replace(b"1.00", b"0.01"), headers=headers)
        stale_headers = webhook_headers([SECRET], "msg_3", int(time.time()) - 3600, body)
        stale = await http.post(PATH, content=body, headers=stale_headers)
        unsigned = await http.post(PATH, content=body, headers={"webhook-id": "msg_4"})
    assert [r.status_code for r in (wrong_secret, tampered, stale, unsigned)] == [400, 400, 400, 400]
    assert receiver.stats.bad_signature == 4
    assert receiver.stats.verified == 0
    assert receiver.invitations.empty()


async def test_outages_on_purpose_and_before_the_secret_is_known() -> None:
    receiver = WebhookReceiver(failure_ratio=1.0, rng=random.Random(1))
    body, headers = delivery("msg_1", "survey.invited", {"survey_id": "srv-1", "kind": "csat", "link": "x"})
    async with client(receiver) as http:
        not_ready = await http.post(PATH, content=body, headers=headers)
        receiver.use_secret(SECRET)
        outage = await http.post(PATH, content=body, headers=headers)
    assert not_ready.status_code == 503
    assert outage.status_code == 500
    assert receiver.stats.verified == 1
    assert receiver.stats.answered_500 == 1
    assert receiver.invitations.empty()  # not acknowledged, so not taken: notify will retry it


def test_the_secret_format_is_the_one_standardwebhooks_expects() -> None:
    assert SECRET.startswith("whsec_")
    assert len(base64.b64decode(SECRET.removeprefix("whsec_"))) == 32
