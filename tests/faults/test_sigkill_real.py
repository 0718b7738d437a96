"""Each service is SIGKILLed mid-stream and restarted while traffic keeps flowing; afterwards every
effect is checked from the outside: nothing lost, nothing doubled, no consumer stuck."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from demo.journeys import shop_day
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import CloudEvent
from schemas.registry import make_event
from schemas.v1.common import Customer
from schemas.v1.contacts import Channel, ContactReceived
from schemas.v1.orders import OrderDelivered, OrderPaid
from schemas.v1.tickets import Category, Priority, TicketCreated
from services.notify.handlers import webhook_id_for
from tests.faults.support import (
    NOTIFY_ENV,
    SURVEY_ENV,
    Producer,
    ServiceProcess,
    events_on,
    service_processes,
    sla_settled,
    wait_for_zero_lag,
)
from tests.notify.receiver import Received, Receiver, Reply
from tests.support.shops import KEY_A, SHOP_A, auth
from tests.support.stack import service_connection
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(150)]


async def produce_while(
    settings: Settings,
    topic: str,
    events: list[CloudEvent[Any]],
    crash: Callable[[], Awaitable[None]],
    crash_points: tuple[float, ...] = (0.3, 0.65),
) -> None:
    """Send `events` in small bursts; at each crash point (share of events sent) run `crash`."""
    marks = {int(len(events) * share) for share in crash_points}
    async with Producer(settings) as producer:
        for n, event in enumerate(events):
            if n in marks:
                await crash()
            await producer.send(topic, event)
            if n % 10 == 9:
                await asyncio.sleep(0.05)


async def kill_and_restart(process: ServiceProcess, settle: float = 0.5) -> None:
    await asyncio.sleep(settle)  # let it get busy with what was just sent
    process.kill()
    await process.restart()


class SigningReceiver(Receiver):
    """Counts an effect only for a request whose Standard Webhooks signature verifies."""

    def __init__(self) -> None:
        super().__init__(self._verify)
        self.secrets: dict[str, str] = {}
        self.verified: dict[str, Counter[str]] = defaultdict(Counter)
        """path -> webhook-id -> verified requests (several are fine; distinct ids are the effects)."""

    async def _verify(self, request: Received) -> Reply:
        Webhook(self.secrets[request.path]).verify(request.body, request.headers)
        self.verified[request.path][request.webhook_id] += 1
        return Reply(200)


async def test_notify_killed_twice_mid_stream_delivers_each_event_once_per_subscribed_endpoint(
    infra: Settings,
) -> None:
    receiver = SigningReceiver()
    await receiver.start()
    start = datetime.now(UTC) - timedelta(days=2)
    events = [s.event for s in shop_day(random.Random(8), SHOP_A, start, 40)]
    subscriptions = {"/all": ["*"], "/shipped": ["order.shipped"], "/returns": ["return.*", "refund.*"]}
    expected = {
        path: {
            webhook_id_for(e.id)
            for e in events
            if "*" in patterns or e.type in patterns or f"{e.type.split('.')[0]}.*" in patterns
        }
        for path, patterns in subscriptions.items()
    }
    try:
        async with service_processes(infra, ["notify"], NOTIFY_ENV) as services:
            notify = services["notify"]
            async with httpx.AsyncClient(base_url=notify.url) as client:
                for path, patterns in subscriptions.items():
                    created = await client.post(
                        "/v1/endpoints",
                        json={"url": receiver.url(path), "event_types": patterns},
                        headers=auth(KEY_A),
                    )
                    assert created.status_code == 201, created.text
                    receiver.secrets[path] = created.json()["secret"]

            await produce_while(infra, topics.ORDERS.name, events, lambda: kill_and_restart(notify))
            assert notify.lives == 3

            async def all_delivered() -> bool:
                return all(set(receiver.verified[p]) >= want for p, want in expected.items())

            await eventually(all_delivered, timeout=60, interval=0.2)
            await wait_for_zero_lag(notify, [topics.ORDERS.name])
            conn = await service_connection(infra, "notify")
            try:
                rows = await conn.fetch("SELECT webhook_id, status FROM deliveries")
            finally:
                await conn.close()
    finally:
        await receiver.stop()

    for path, want in expected.items():
        assert set(receiver.verified[path]) == want, f"{path}: wrong set of webhook effects"
    # one delivery row per event and endpoint, each succeeded: a redelivered event queued nothing twice
    assert len(rows) == sum(len(want) for want in expected.values())
    assert Counter(r["status"] for r in rows) == {"succeeded": len(rows)}


def ticket_created(ticket_id: str, at: datetime) -> CloudEvent[Any]:
    data = TicketCreated(
        shop_id=SHOP_A,
        ticket_id=ticket_id,
        channel=Channel.CHAT,
        category=Category.OTHER,
        priority=Priority.HIGH,
        at=at,
    )
    return make_event("ticket.created", "careloop/intake", data, subject=ticket_id).model_copy(
        update={"time": at}
    )


def order_paid(order_id: str, at: datetime, ship_by: datetime) -> CloudEvent[Any]:
    who = Customer(id=f"c-{order_id}", email=f"{order_id}@example.com")
    data = OrderPaid(
        shop_id=SHOP_A, order_id=order_id, customer=who, amount=Decimal(10), currency="PLN", ship_by=ship_by
    )
    return make_event("order.paid", "shop", data, subject=order_id).model_copy(update={"time": at})


def sla_effect_key(event: CloudEvent[Any]) -> tuple[str, ...]:
    """What makes one SLA effect distinct: a second event id with the same key is a doubled effect."""
    data = event.data
    if event.type == "order.promise_breached":
        return (event.type, data.order_id, data.promise)
    if event.type == "sla.warning":
        return (event.type, data.clock_id, str(data.share_of_target))
    if event.type == "sla.escalated":
        return (event.type, data.clock_id, str(data.level))
    return (event.type, data.clock_id)


async def test_sla_killed_twice_mid_stream_emits_every_due_sla_event_exactly_once(infra: Settings) -> None:
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=10)  # every clock and promise is already past its deadline
    orders = [f"ord-{n}" for n in range(30)]
    tickets = [f"tkt-{n}" for n in range(30)]
    events: list[tuple[str, CloudEvent[Any]]] = []
    for order_id, ticket_id in zip(orders, tickets, strict=True):
        events.append((topics.ORDERS.name, order_paid(order_id, long_ago, long_ago + timedelta(days=1))))
        events.append((topics.TICKETS.name, ticket_created(ticket_id, long_ago)))

    async with service_processes(infra, ["sla"]) as services:
        sla = services["sla"]
        marks = {len(events) // 3, 2 * len(events) // 3}
        async with Producer(infra) as producer:
            for n, (topic, event) in enumerate(events):
                if n in marks:
                    await kill_and_restart(sla, settle=0.3)
                await producer.send(topic, event)
        assert sla.lives == 3
        conn = await service_connection(infra, "sla")
        try:
            await eventually(sla_settled(conn, len(tickets)), timeout=40, interval=0.3)
            clocks = await conn.fetch("SELECT id, ticket_id, metric, outcome, stages_done FROM clocks")
            promises = await conn.fetch("SELECT order_id, kind, status FROM promises")
            await wait_for_zero_lag(sla, [topics.ORDERS.name, topics.TICKETS.name])
        finally:
            await conn.close()

    breached_clocks = {r["id"] for r in clocks if r["outcome"] == "breached"}
    per_ticket = Counter((r["ticket_id"], r["metric"]) for r in clocks)
    assert set(per_ticket.values()) == {1}, "a redelivered ticket.created opened a second clock"
    assert {t for t, _ in per_ticket} == set(tickets)
    assert breached_clocks, "the scenario must breach clocks to prove anything"
    assert {(r["order_id"], r["status"]) for r in promises} == {(o, "breached") for o in orders}

    emitted = await events_on_until(infra, len(orders) + len(breached_clocks))
    distinct: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for event in emitted:
        distinct[sla_effect_key(event)].add(event.id)
    doubled = {k: ids for k, ids in distinct.items() if len(ids) > 1}
    assert doubled == {}
    assert {k[1] for k in distinct if k[0] == "order.promise_breached"} == set(orders)
    assert {k[1] for k in distinct if k[0] == "sla.breached"} == breached_clocks
    # Every stage a clock passed (warning, breach, escalations) went out as exactly one event.
    # (A clock's changes of state, `sla.clock_changed`, are no stage.)
    fired = {"sla.warning", "sla.breached", "sla.escalated"}
    per_clock = Counter(k[1] for k in distinct if k[0] in fired)
    assert {r["id"]: r["stages_done"] for r in clocks if r["stages_done"]} == dict(per_clock)


async def events_on_until(settings: Settings, at_least: int) -> list[CloudEvent[Any]]:
    return await events_on(settings, topics.SLA.name, at_least=at_least)


def order_delivered(order_id: str, at: datetime) -> CloudEvent[Any]:
    who = Customer(id=f"c-{order_id}", email=f"{order_id}@example.com", locale="en")
    data = OrderDelivered(shop_id=SHOP_A, order_id=order_id, customer=who, delivered_at=at)
    return make_event("order.delivered", "shop", data, subject=order_id).model_copy(update={"time": at})


async def answer_until_settled(client: httpx.AsyncClient, token: str, score: int) -> int:
    """A customer who retries until the service answers: 201 (accepted now) or 410 (an earlier try,
    cut off by the crash before its reply, had been accepted)."""
    for _ in range(200):
        try:
            response = await client.post("/v1/answers", json={"token": token, "score": score})
        except httpx.TransportError:
            await asyncio.sleep(0.2)
            continue
        if response.status_code in (201, 410):
            return response.status_code
        assert response.status_code >= 500, response.text
        await asyncio.sleep(0.2)
    raise AssertionError(f"token {token[:6]}… never settled")


async def test_survey_killed_while_inviting_and_while_answering_counts_every_answer_once(
    infra: Settings,
) -> None:
    delivered_at = datetime.now(UTC) - timedelta(hours=1)
    orders = [f"ord-{n}" for n in range(24)]
    events = [order_delivered(o, delivered_at) for o in orders]
    async with service_processes(infra, ["survey"], SURVEY_ENV) as services:
        survey = services["survey"]
        await produce_while(infra, topics.ORDERS.name, events, lambda: kill_and_restart(survey), (0.5,))

        async def invited() -> list[CloudEvent[Any]]:
            found = await events_on(infra, topics.SURVEYS.name, at_least=len(orders), timeout=5)
            found = [e for e in found if e.type == "survey.invited"]
            return found if {e.data.order_id for e in found} == set(orders) else []

        invitations = await eventually(invited, timeout=40, interval=0.5)
        by_order: dict[str, set[str]] = defaultdict(set)
        for event in invitations:
            by_order[event.data.order_id].add(event.data.survey_id)
        assert all(len(ids) == 1 for ids in by_order.values()), "an order was invited twice"
        tokens = {e.data.survey_id: e.data.link.rsplit("/", 1)[1] for e in invitations}
        scores = {survey_id: n % 11 for n, survey_id in enumerate(sorted(tokens))}

        async with httpx.AsyncClient(base_url=survey.url, timeout=5.0) as client:
            answering = [
                asyncio.create_task(answer_until_settled(client, tokens[s], scores[s]))
                for s in sorted(tokens)
            ]
            await asyncio.sleep(0.3)
            await kill_and_restart(survey, settle=0.0)
            statuses = await asyncio.gather(*answering)
            # A second answer with a used token is refused and changes nothing.
            again = await client.post("/v1/answers", json={"token": tokens[min(tokens)], "score": 0})
            assert again.status_code == 410
            report = (await client.get("/v1/reports/nps", headers=auth(KEY_A))).json()
        await wait_for_zero_lag(survey, [topics.ORDERS.name])

        conn = await service_connection(infra, "survey")
        try:
            answers = await conn.fetch("SELECT survey_id, score FROM answers")
        finally:
            await conn.close()

    assert Counter(statuses)[201] >= 1
    assert {r["survey_id"]: r["score"] for r in answers} == scores
    assert report["overall"]["answers"] == len(orders)
    assert sum(report["overall"]["distribution"].values()) == len(orders)
    answered = [
        e for e in await events_on(infra, topics.SURVEYS.name, 2 * len(orders)) if e.type == "survey.answered"
    ]
    ids_per_survey: dict[str, set[str]] = defaultdict(set)
    for event in answered:
        ids_per_survey[event.data.survey_id].add(event.id)
    assert {s: len(ids) for s, ids in ids_per_survey.items()} == dict.fromkeys(scores, 1)


def contact_event(customer: int, message: int) -> CloudEvent[Any]:
    data = ContactReceived(
        shop_id=SHOP_A,
        channel=Channel.EMAIL,
        customer_email=f"customer-{customer}@example.com",
        subject=f"order question {customer}",
        body=f"message {message} of customer {customer}",
        channel_message_id=f"mail-{customer}-{message}",
    )
    return make_event("contact.received", "gateway/mail", data, subject=f"{SHOP_A}:{customer}")


async def post_until_settled(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    """A gateway that retries a contact until it gets an answer; the channel_message_id makes the
    retry of a contact that was stored just before the crash harmless."""
    for _ in range(200):
        try:
            response = await client.post("/v1/contacts", json=body, headers=auth(KEY_A))
        except httpx.TransportError:
            await asyncio.sleep(0.2)
            continue
        if response.status_code in (200, 201):
            return str(response.json()["outcome"])
        assert response.status_code >= 500, response.text
        await asyncio.sleep(0.2)
    raise AssertionError(f"contact {body['channel_message_id']} never settled")


async def test_intake_killed_while_taking_contacts_from_http_and_kafka_files_each_message_once(
    infra: Settings,
) -> None:
    customers = range(20)
    async with service_processes(infra, ["intake"]) as services:
        intake = services["intake"]
        # First message of every customer from the mail gateway on Kafka, the second over HTTP.
        first = [contact_event(c, 1) for c in customers]
        await produce_while(infra, topics.CONTACTS.name, first, lambda: kill_and_restart(intake), (0.5,))
        conn = await service_connection(infra, "intake")
        try:

            async def all_first_filed() -> bool:
                return bool(await conn.fetchval("SELECT count(*) FROM messages") == len(customers))

            await eventually(all_first_filed, timeout=40, interval=0.3)
            async with httpx.AsyncClient(base_url=intake.url, timeout=5.0) as client:
                second = [
                    {**contact_event(c, 2).data.model_dump(mode="json", exclude={"shop_id"})}
                    for c in customers
                ]
                posting = [asyncio.create_task(post_until_settled(client, body)) for body in second]
                await asyncio.sleep(0.2)
                await kill_and_restart(intake, settle=0.0)
                outcomes = await asyncio.gather(*posting)
            await wait_for_zero_lag(intake, [topics.CONTACTS.name])

            async def outbox_drained() -> bool:
                return bool(await conn.fetchval("SELECT count(*) FROM outbox") == 0)

            await eventually(outbox_drained, timeout=30)
            messages = await conn.fetch("SELECT id, ticket_id, channel_message_id FROM messages")
            tickets = await conn.fetch("SELECT id FROM tickets")
        finally:
            await conn.close()

    assert set(outcomes) <= {"joined", "duplicate"}
    assert sorted(m["channel_message_id"] for m in messages) == sorted(
        f"mail-{c}-{n}" for c in customers for n in (1, 2)
    )
    assert len(tickets) == len(customers), "each customer's two mails thread into one ticket"
    emitted = await events_on(infra, topics.TICKETS.name, at_least=len(tickets) + len(messages))
    created: dict[str, set[str]] = defaultdict(set)
    added: dict[str, set[str]] = defaultdict(set)
    for event in emitted:
        if event.type == "ticket.created":
            created[event.data.ticket_id].add(event.id)
        elif event.type == "ticket.message_added":
            added[event.data.message_id].add(event.id)
    assert {t: len(ids) for t, ids in created.items()} == {r["id"]: 1 for r in tickets}
    assert {m: len(ids) for m, ids in added.items()} == {r["id"]: 1 for r in messages}
