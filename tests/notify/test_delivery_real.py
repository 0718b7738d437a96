"""Signed deliveries over real Kafka + Postgres to a real local HTTP receiver."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY
from standardwebhooks.webhooks import Webhook

from runtime.kafka import DLQ_REASON
from runtime.settings import Settings
from schemas import topics
from schemas.registry import make_event
from schemas.v1.contacts import Channel
from schemas.v1.sla import OrderPromiseBreached, PromiseKind
from schemas.v1.surveys import SurveyInvited, SurveyKind
from schemas.v1.tickets import Category, Priority, TicketCreated
from tests.notify.harness import api, config, create_endpoint, customer, order_event, running_notify
from tests.notify.receiver import Received, Receiver, Reply
from tests.support.kafka import produce, read_topic
from tests.support.shops import KEY_A, KEY_B, SHOP_A, SHOP_B, auth
from tests.support.wait import eventually

pytestmark = pytest.mark.kafka


async def test_a_delivery_is_signed_per_standard_webhooks_and_carries_a_message(infra: Settings) -> None:
    async def long_answer(request: Received) -> Reply:
        return Reply(200, b"x" * 5000)

    receiver = await Receiver(long_answer).start()
    shipped_before = _shipped_count()
    try:
        async with running_notify(infra, config(response_cap_bytes=64)) as app, api(app) as client:
            endpoint = await create_endpoint(client, receiver.url(), event_types=["order.*"])
            assert endpoint["secret"].startswith("whsec_")
            listed = (await client.get("/v1/endpoints", headers=auth(KEY_A))).json()
            assert [e["id"] for e in listed] == [endpoint["id"]]
            assert "secret" not in listed[0]

            event = order_event("order.shipped", "PL-1001")
            await produce(infra, topics.ORDERS.name, event)
            await eventually(lambda: _received(receiver, 1))

            request = receiver.requests[0]
            payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
            assert request.headers["webhook-id"].startswith("msg_")
            assert payload["type"] == "order.shipped"
            assert payload["timestamp"] == event.time.isoformat().replace("+00:00", "Z")
            data = payload["data"]
            assert (data["order_id"], data["shop_id"], data["event_id"]) == ("PL-1001", SHOP_A, event.id)
            assert data["tracking_number"] == "TRK-1"
            message = data["customer_message"]
            assert message["locale"] == "pl"
            assert message["subject"] == "Zamówienie PL-1001 zostało wysłane"
            assert message["text"].startswith("Dzień dobry Anna,")
            assert message["text"].endswith("Shop A")

            async def succeeded() -> list[dict[str, object]]:
                rows = (
                    await client.get(f"/v1/endpoints/{endpoint['id']}/deliveries", headers=auth(KEY_A))
                ).json()
                return [r for r in rows if r["status"] == "succeeded"]

            [delivery] = await eventually(succeeded)
            assert delivery["webhook_id"] == request.headers["webhook-id"]
            detail = (await client.get(f"/v1/deliveries/{delivery['id']}", headers=auth(KEY_A))).json()
            [attempt] = detail["attempt_log"]
            assert attempt["status_code"] == 200
            assert attempt["outcome"] == "success"
            assert attempt["response_body"] == "x" * 64  # truncated at the cap
            assert attempt["latency_ms"] > 0
            assert detail["payload"] == payload

            metrics = (await client.get("/metrics")).text
            assert "careloop_notify_deliveries_total" in metrics
            shipped = _shipped_count()
            assert shipped - shipped_before == 1
            assert 'careloop_notify_attempts_total{outcome="success",shop="shop-a"}' in metrics
            assert "careloop_notify_delivery_latency_seconds_bucket" in metrics
            assert "careloop_notify_queue_depth" in metrics
    finally:
        await receiver.stop()


def _shipped_count() -> float:
    return _sample(
        "careloop_notify_deliveries_total", shop="shop-a", event_type="order.shipped", outcome="succeeded"
    )


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _received(receiver: Receiver, count: int) -> bool:
    return len(receiver.requests) >= count


async def test_every_source_topic_is_delivered_and_unknown_shops_are_dead_lettered(infra: Settings) -> None:
    receiver = await Receiver().start()
    try:
        async with running_notify(infra, config()) as app, api(app) as client:
            await create_endpoint(client, receiver.url("/a"))  # default filter: everything
            await create_endpoint(client, receiver.url("/b"), key=KEY_B, event_types=["ticket.*"])
            ticket = TicketCreated(
                shop_id=SHOP_B,
                ticket_id="T-7",
                channel=Channel.EMAIL,
                category=Category.ORDER_STATUS,
                priority=Priority.NORMAL,
                customer_locale="en",
            )
            breach = OrderPromiseBreached(
                shop_id=SHOP_A,
                order_id="PL-9",
                customer=customer(),
                promise=PromiseKind.DELIVERY_DATE,
                promised_at="2026-01-08T00:00:00Z",
                at="2026-01-08T00:00:01Z",
            )
            survey = SurveyInvited(
                shop_id=SHOP_A,
                survey_id="S-1",
                kind=SurveyKind.NPS,
                customer=customer("en"),
                link="https://careloop.example/s/abc",
                expires_at="2026-02-01T00:00:00Z",
            )
            await produce(infra, topics.TICKETS.name, make_event("ticket.created", "intake", ticket, "T-7"))
            await produce(infra, topics.SLA.name, make_event("order.promise_breached", "sla", breach, "PL-9"))
            await produce(infra, topics.SURVEYS.name, make_event("survey.invited", "survey", survey, "S-1"))
            stranger = order_event("order.created", "X-1", shop_id="no-such-shop")
            await produce(infra, topics.ORDERS.name, stranger)
            await eventually(lambda: _received(receiver, 3))

            by_type = {r.json()["type"]: r for r in receiver.requests}
            assert set(by_type) == {"ticket.created", "order.promise_breached", "survey.invited"}
            assert by_type["ticket.created"].path == "/b"  # shop B's endpoint only
            assert by_type["order.promise_breached"].path == "/a"
            breach_message = by_type["order.promise_breached"].json()["data"]["customer_message"]
            assert breach_message["subject"] == "Przepraszamy za opóźnienie zamówienia PL-9"
            survey_message = by_type["survey.invited"].json()["data"]["customer_message"]
            assert survey_message["locale"] == "en"
            assert "https://careloop.example/s/abc" in survey_message["text"]
            ticket_message = by_type["ticket.created"].json()["data"]["customer_message"]
            assert ticket_message["text"].startswith("Hello,\n")

            dlq = await read_topic(infra, topics.ORDERS.dlq, at_least=1)
            assert [dict(r.headers)[DLQ_REASON].decode() for r in dlq] == [
                "unprocessable: unknown shop 'no-such-shop'"
            ]
    finally:
        await receiver.stop()
