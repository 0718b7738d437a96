"""A small, deterministic slice of a shop's life, driven through the services' real interfaces (order
events on Kafka, the HTTP APIs, survey answers) so that every dashboard panel has something to show.

Time is real, but the shops' SLA targets and promises are seconds long (set through the SLA API), so
targets are met or breached and promises break within the test, whatever the time of day."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import uvicorn
from aiokafka import AIOKafkaProducer

from runtime.settings import Settings
from schemas import topics
from schemas.registry import decode_event, encode_event, make_event
from schemas.v1.common import Customer
from schemas.v1.contacts import ContactReceived
from schemas.v1.orders import (
    OrderCreated,
    OrderDelivered,
    OrderPaid,
    OrderShipped,
    ReturnReceived,
    ReturnRequested,
)
from tests.ops.stack import ServiceProcess, tail
from tests.support.kafka import read_topic
from tests.support.net import free_port
from tests.support.shops import KEY_A, KEY_B, SHOP_A, SHOP_B, auth
from tests.support.wait import eventually

SOURCE = "careloop/ops-test"
TARGET_SECONDS = 6
"""Every SLA target of the test shops: answered at once is met, answered after LATE_SECONDS breached."""
LATE_SECONDS = 8.0


def stack_env() -> dict[str, str]:
    """Settings for the services under test: loopback webhooks, a short retry schedule, quick sweeps."""
    return {
        "NOTIFY_ALLOW_LOOPBACK": "true",
        "NOTIFY_RETRY_SCHEDULE_SECONDS": "[0, 1, 2]",
        "NOTIFY_GAUGE_SECONDS": "1",
        "SURVEY_NPS_DELAY_DAYS": "0",
        "SURVEY_SWEEP_SECONDS": "0.5",
        "SURVEY_SCORE_GAUGE_SECONDS": "1",
    }


# -- a webhook receiver --------------------------------------------------------------------------
async def _receiver_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """200 on /ok, 500 on /fail, 410 on /gone: one healthy, one failing and one retired endpoint."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    status = {"/ok": 200, "/fail": 500, "/gone": 410}.get(scope["path"], 404)
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


@asynccontextmanager
async def webhook_receiver() -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(_receiver_app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:

        async def started() -> bool:
            return server.started

        await eventually(started, timeout=10.0, interval=0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


# -- the traffic ---------------------------------------------------------------------------------
class ShopLife:
    def __init__(self, settings: Settings, services: dict[str, ServiceProcess]) -> None:
        self.settings = settings
        self.services = services
        self.http = httpx.AsyncClient(timeout=15.0)
        self.run = uuid.uuid4().hex[:6]
        self._producer: AIOKafkaProducer | None = None

    def url(self, service: str, path: str) -> str:
        return f"{self.services[service].url}{path}"

    async def call(self, method: str, service: str, path: str, key: str, body: Any = None) -> Any:
        try:
            response = await self.http.request(method, self.url(service, path), json=body, headers=auth(key))
        except httpx.TransportError as exc:
            process = self.services[service]
            raise AssertionError(f"{method} {service}{path}: {exc!r}\n{tail(process.log)}") from exc
        assert response.status_code < 300, f"{method} {service}{path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    async def close(self) -> None:
        await self.http.aclose()
        if self._producer is not None:
            await self._producer.stop()

    async def publish(self, topic: str, value: bytes, key: str) -> None:
        if self._producer is None:
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap_servers, acks="all"
            )
            await self._producer.start()
        await self._producer.send_and_wait(self.settings.topic(topic), value, key=key.encode())

    async def second_long_policies(self) -> None:
        """The shipped SLA policies with every target TARGET_SECONDS of calendar time."""
        for key in (KEY_A, KEY_B):
            policies = await self.call("GET", "sla", "/v1/sla/policies", key)
            await self.call("PUT", "sla", "/v1/sla/policies", key, dict(_seconds_long(policies)))

    async def webhook_endpoints(self, receiver: str) -> None:
        for key, path in ((KEY_A, "/ok"), (KEY_B, "/fail"), (KEY_B, "/gone")):
            await self.call("POST", "notify", "/v1/endpoints", key, {"url": receiver + path})

    async def orders(self) -> list[tuple[str, Customer]]:
        """Order journeys in both shops; returns the delivered ones' (shop, customer)."""
        delivered = []
        for shop in (SHOP_A, SHOP_B):
            for n in range(4):
                order_id = f"o-{self.run}-{shop}-{n}"
                customer = Customer(
                    id=f"buyer-{self.run}-{shop}-{n}", email=f"buyer{n}@{shop}.example", locale="en"
                )
                common = {"shop_id": shop, "order_id": order_id, "customer": customer}
                now = datetime.now(UTC)
                await self.order_event(
                    "order.created", OrderCreated(**common, total=Decimal("120.00"), currency="PLN")
                )
                # ship-by in two seconds: the unshipped orders break the promise
                await self.order_event(
                    "order.paid",
                    OrderPaid(
                        **common, amount=Decimal("120.00"), currency="PLN", ship_by=now + timedelta(seconds=2)
                    ),
                )
                if n == 3:
                    continue
                await self.order_event(
                    "order.shipped",
                    OrderShipped(
                        **common,
                        carrier="InPost",
                        tracking_number=f"TR{n}",
                        promised_delivery_date=now.date(),
                    ),
                )
                await self.order_event(
                    "order.delivered", OrderDelivered(**common, delivered_at=datetime.now(UTC))
                )
                delivered.append((order_id, customer))
                if n == 0:
                    return_id = f"r-{order_id}"
                    await self.order_event("return.requested", ReturnRequested(**common, return_id=return_id))
                    await self.order_event("return.received", ReturnReceived(**common, return_id=return_id))
        return delivered

    async def order_event(self, event_type: str, data: Any) -> None:
        event = make_event(event_type, SOURCE, data, subject=data.order_id)
        await self.publish(topics.ORDERS.name, encode_event(event), data.order_id)

    async def contact(self, key: str, channel: str, customer: str, order_id: str | None, body: str) -> str:
        submission = {
            "channel": channel,
            "customer_email": f"{customer}@customers.example",
            "customer_name": customer,
            "order_id": order_id,
            "subject": body[:40],
            "body": body,
        }
        accepted = await self.call("POST", "intake", "/v1/contacts", key, submission)
        ticket_id: str = accepted["ticket_id"]
        return ticket_id

    async def tickets(self) -> None:
        """Answered and solved, answered late, never answered, closed and contacted again (a repeat).
        Done in two rounds a few scrapes apart: a labelled series is born with its first observation,
        which rate() cannot see, so only the second round shows in the percentiles."""
        c = f"cust-{self.run}"
        for round_ in (1, 2):
            await self.answered(KEY_A, "web_form", f"{c}-{round_}-1", "Where is my parcel?")
            await self.answered(
                KEY_B, "email", f"{c}-{round_}-2", "Do you ship to Norway?", delay=LATE_SECONDS
            )
            await asyncio.sleep(1.5)
        quick = await self.answered(
            KEY_A, "web_form", f"{c}-3", "Where is my parcel?", order_id=f"x-{self.run}-3"
        )
        await self.call("POST", "intake", f"/v1/tickets/{quick}/status", KEY_A, {"status": "closed"})
        repeat = await self.contact(KEY_A, "web_form", f"{c}-3", f"x-{self.run}-3", "Still not here, again.")
        assert repeat != quick
        await self.contact(KEY_A, "chat", f"{c}-4", None, "Can I change my delivery address?")
        broken = await self.contact(KEY_B, "email", f"{c}-5", f"x-{self.run}-5", "The item arrived broken")
        again = await self.contact(KEY_B, "chat", f"{c}-5", f"x-{self.run}-6", "Also, the box was wet")
        await self.call("POST", "intake", f"/v1/tickets/{again}/merge", KEY_B, {"into_ticket_id": broken})
        solved = await self.answered(KEY_A, "web_form", f"{c}-6", "Which size should I take?")
        reopened = await self.contact(KEY_A, "web_form", f"{c}-6", None, "It does not fit after all.")
        assert reopened == solved

    async def answered(
        self,
        key: str,
        channel: str,
        customer: str,
        body: str,
        delay: float = 0.0,
        order_id: str | None = None,
    ) -> str:
        """A ticket answered after `delay` seconds and solved."""
        ticket = await self.contact(key, channel, customer, order_id, body)
        await asyncio.sleep(delay)
        await self.call(
            "POST", "intake", f"/v1/tickets/{ticket}/replies", key, {"body": "Here is the answer."}
        )
        await self.call("POST", "intake", f"/v1/tickets/{ticket}/status", key, {"status": "solved"})
        return ticket

    async def refusals(self) -> None:
        """What must be refused and counted: bad keys, a wrong shop, undecodable and unknown-shop events."""
        for name in self.services:
            response = await self.http.get(self.url(name, "/v1/openapi.json"))
            assert response.status_code == 200, name
            response = await self.http.post(self.url(name, "/v1/nothing-here"), headers=auth("clk_wrong_key"))
            assert response.status_code in {401, 404, 405}, (name, response.status_code)
        response = await self.http.get(self.url("intake", "/v1/tickets"), headers=auth("clk_wrong_key"))
        assert response.status_code == 401
        response = await self.http.post(
            self.url("intake", "/v1/contacts"),
            json={"shop_id": SHOP_B, "channel": "email", "customer_email": "a@b.example", "body": "hi"},
            headers=auth(KEY_A),
        )
        assert response.status_code == 403, response.text
        await self.publish(topics.ORDERS.name, b"this is not an event", "garbage")
        stranger = ContactReceived(
            shop_id="no-such-shop", channel="email", customer_email="x@y.example", body="Hello?"
        )
        event = make_event("contact.received", SOURCE, stranger)
        await self.publish(topics.CONTACTS.name, encode_event(event), "no-such-shop")

    async def answer_surveys(self, expected: int, timeout: float = 60.0) -> int:
        """Answer the invitations as they come: promoters, a detractor, a happy CSAT, an easy CES."""
        records = await read_topic(self.settings, topics.SURVEYS.name, at_least=expected, timeout=timeout)
        invited = [e for e in (decode_event(r.value) for r in records) if e.type == "survey.invited"]
        scores = iter((10, 3, 9, 8, 5, 6, 7, 10, 2, 9))
        if invited:
            # the page-time series is born with its first request, which rate() cannot see: open one
            # page, let Prometheus scrape, then serve the rest
            first = await self.http.get(self.url("survey", "/s/" + invited[0].data.link.rsplit("/", 1)[-1]))
            assert first.status_code == 200, first.text
            await asyncio.sleep(2.5)
        for event in invited:
            token = event.data.link.rsplit("/", 1)[-1]
            page = await self.http.get(self.url("survey", f"/s/{token}"))
            assert page.status_code == 200, page.text
            kind = event.data.kind.value
            score = next(scores) if kind == "nps" else (5 if kind == "csat" else 6)
            await self.http.post(self.url("survey", "/v1/answers"), json={"token": token, "score": score})
        if invited:  # a second answer with a used link is refused
            token = invited[0].data.link.rsplit("/", 1)[-1]
            again = await self.http.post(self.url("survey", "/v1/answers"), json={"token": token, "score": 1})
            assert again.status_code == 410, again.text
        return len(invited)


def _seconds_long(document: Any) -> Iterator[tuple[str, Any]]:
    """A policy document with every target TARGET_SECONDS long, counted round the clock."""
    for key, value in document.items():
        if key == "business_hours":
            yield key, False
        elif key == "seconds":
            yield key, TARGET_SECONDS
        elif key == "default_ship_by_business_hours":
            yield key, value
        elif isinstance(value, dict):
            yield key, dict(_seconds_long(value))
        elif isinstance(value, list):
            yield key, [dict(_seconds_long(v)) if isinstance(v, dict) else v for v in value]
        else:
            yield key, value
