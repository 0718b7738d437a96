"""Poison events (bad JSON, wrong schema, huge payloads, unknown types, unknown shops) mixed into
valid traffic on every consumed topic: each lands in its topic's DLQ once per consumer, with the
reason; the valid events around it all take effect; no consumer stays stuck; metrics match the DB."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from demo.journeys import shop_day
from runtime.service import ServiceApp
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import CloudEvent
from schemas.registry import encode_event, known_type_of, make_event
from schemas.v1.common import Customer
from schemas.v1.contacts import Channel, ContactReceived
from schemas.v1.orders import ORDER_EVENT_TYPES, OrderDelivered
from schemas.v1.tickets import Category, Priority, TicketCreated
from services.notify.handlers import webhook_id_for
from tests.faults.inprocess import running_services
from tests.faults.support import Producer, dead_letters
from tests.notify.receiver import Received, Receiver, Reply
from tests.support.shops import KEY_A, SHOP_A, auth
from tests.support.stack import http_client
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(120)]

SERVICES = ("intake", "sla", "notify", "survey")
CONSUMERS = {
    topics.ORDERS.name: {"intake-orders", "sla-orders", "notify-orders", "survey-orders"},
    topics.TICKETS.name: {"sla-tickets", "notify-tickets", "notify-email", "survey-tickets"},
    topics.CONTACTS.name: {"intake-contacts"},
}
"""Who reads each poisoned topic. Every one of them must dead-letter every invalid record, except a
consumer passes over (unvalidated) a record of a known type it has no handler for."""


def poison_for(topic: str, valid: bytes) -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, the start of the reason the DLQ must give)."""
    document = json.loads(valid)
    wrong_schema = {**document, "id": f"wrong-schema-{topic}", "data": {"shop_id": SHOP_A}}
    unknown_type = {**document, "id": f"unknown-type-{topic}", "type": "order.teleported"}
    not_an_envelope = {"hello": "world"}
    with_nul = {**document, "id": f"nul-{topic}", "data": {**document["data"], "note": "a\u0000b"}}
    return {
        "bad json": (b'{"specversion": "1.0", "id": ', "not JSON"),
        "not utf-8": (b"\xff\xfe\x00garbage", "not JSON"),
        "not an envelope": (json.dumps(not_an_envelope).encode(), "not a CloudEvents 1.0 envelope"),
        "wrong schema": (json.dumps(wrong_schema).encode(), f"invalid {document['type']} data"),
        "unknown type": (json.dumps(unknown_type).encode(), "unknown event type 'order.teleported'"),
        "huge": (json.dumps({**document, "pad": "x" * 300_000}).encode(), "event too large"),
        "NUL in text": (json.dumps(with_nul).encode(), f"invalid {document['type']} data"),
    }


def unknown_shop_delivery() -> bytes:
    who = Customer(id="c-x", email="x@example.com")
    data = OrderDelivered(
        shop_id="shop-nobody-knows", order_id="o-x", customer=who, delivered_at=datetime.now(UTC)
    )
    return encode_event(make_event("order.delivered", "shop", data, subject="o-x"))


def a_contact() -> bytes:
    data = ContactReceived(
        shop_id=SHOP_A, channel=Channel.CHAT, customer_handle="anna", body="where is my parcel?"
    )
    return encode_event(make_event("contact.received", "gateway/chat", data, subject="anna"))


def a_ticket_created() -> bytes:
    data = TicketCreated(
        shop_id=SHOP_A,
        ticket_id="tkt-sample",
        channel=Channel.CHAT,
        category=Category.OTHER,
        priority=Priority.NORMAL,
    )
    return encode_event(make_event("ticket.created", "careloop/intake", data, subject="tkt-sample"))


def counter_values(name: str) -> dict[tuple[str, str], float]:
    """(service, consumer) -> value of a runtime counter, process-wide (other tests add to it too)."""
    values: dict[tuple[str, str], float] = defaultdict(float)
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == name:
                values[(sample.labels["service"], sample.labels["consumer"])] += sample.value
    return values


async def lag_is_zero(apps: dict[str, ServiceApp]) -> bool:
    for app in apps.values():
        lag = await app.runtime.lag.measure()
        if not lag or any(lag.values()):
            return False
    return True


async def send_traffic(
    infra: Settings,
    journeys: list[CloudEvent[Any]],
    poison: dict[str, dict[str, tuple[bytes, str]]],
    stranger: bytes,
    contact: bytes,
) -> None:
    async with Producer(infra) as producer:
        # Poison between valid events, on the valid events' own keys (so on their partitions).
        bad = [*poison[topics.ORDERS.name].values(), (stranger, "")]
        for n, event in enumerate(journeys):
            if n % 5 == 0 and bad:
                await producer.send(topics.ORDERS.name, bad.pop()[0], event.subject)
            await producer.send(topics.ORDERS.name, event)
        for payload, _ in bad:
            await producer.send(topics.ORDERS.name, payload, "poison")
        for topic in (topics.TICKETS.name, topics.CONTACTS.name):
            for payload, _ in poison[topic].values():
                await producer.send(topic, payload, key="poison")
        await producer.send(topics.CONTACTS.name, contact, key="anna")


def check_poison_letters(
    poison: dict[str, dict[str, tuple[bytes, str]]],
    dlq: dict[str, list[tuple[str, str, bytes]]],
    expected_dlq: dict[str, int],
    holders_of: Callable[[str, bytes], list[str]],
) -> None:
    for topic, records in poison.items():
        got = dlq[topic]
        assert len(got) == expected_dlq[topic], f"{topic}: {Counter(c for c, _, _ in got)}"
        for name, (payload, reason) in records.items():
            holders = [consumer for consumer, _, value in got if value == payload]
            assert sorted(holders) == holders_of(topic, payload), f"{topic} {name}: by {holders}"
            reasons = {why for _, why, value in got if value == payload}
            assert all(r.startswith(reason) for r in reasons), f"{topic} {name}: {reasons}"


def check_counters_match_tables(
    tables: dict[str, list[asyncpg.Record]],
    before: dict[tuple[str, str], float],
    after: dict[tuple[str, str], float],
) -> None:
    for service, rows in tables.items():
        for row in rows:
            grown = after[(service, row["consumer"])] - before[(service, row["consumer"])]
            assert grown == row["n"], f"{service}/{row['consumer']}: metric +{grown}, table {row['n']}"


async def test_poison_on_every_topic_is_dead_lettered_per_consumer_and_valid_traffic_flows(
    infra: Settings,
) -> None:
    receiver = Receiver()

    async def ok(request: Received) -> Reply:
        receiver.apply_once(request)
        return Reply(200)

    receiver.behaviour = ok
    await receiver.start()
    start = datetime.now(UTC) - timedelta(days=1)
    journeys = [s.event for s in shop_day(random.Random(3), SHOP_A, start, 12)]
    contact, stranger = a_contact(), unknown_shop_delivery()
    poison = {
        topics.ORDERS.name: poison_for(topics.ORDERS.name, encode_event(journeys[0])),
        topics.TICKETS.name: poison_for(topics.TICKETS.name, a_ticket_created()),
        topics.CONTACTS.name: poison_for(topics.CONTACTS.name, contact),
    }
    dead_before = counter_values("careloop_dead_letters_total")
    try:
        async with running_services(infra, SERVICES) as apps:
            async with http_client(apps["notify"]) as client:
                created = await client.post(
                    "/v1/endpoints", json={"url": receiver.url("/all")}, headers=auth(KEY_A)
                )
                assert created.status_code == 201, created.text
            await send_traffic(infra, journeys, poison, stranger, contact)

            handlers = {c.name: c.types for app in apps.values() for c in app.runtime.consumers.values()}

            def holders_of(topic: str, payload: bytes) -> list[str]:
                """The consumers that must dead-letter `payload`: those that handle the known type it
                names, or all of the topic's if it names none."""
                named = known_type_of(payload)
                return sorted(c for c in CONSUMERS[topic] if named is None or named in handlers[c])

            expected_dlq = {
                t: sum(len(holders_of(t, payload)) for payload, _ in r.values()) for t, r in poison.items()
            }
            expected_dlq[topics.ORDERS.name] += len(CONSUMERS[topics.ORDERS.name])  # the unknown shop
            dlq = {t: await dead_letters(infra, t, at_least=n) for t, n in expected_dlq.items()}
            wanted_hooks = {webhook_id_for(e.id) for e in journeys}

            async def all_hooks() -> bool:
                return set(receiver.effects) >= wanted_hooks

            await eventually(all_hooks, timeout=40)
            await eventually(lambda: lag_is_zero(apps), timeout=40, interval=0.5)
            tables = {
                name: await app.runtime.db.pool.fetch(
                    "SELECT consumer, count(*) AS n FROM dead_letters GROUP BY consumer"
                )
                for name, app in apps.items()
            }
            # tickets from contacts: a journey's broken ship-by promise opens a follow-up ticket too
            ticket_count = await apps["intake"].runtime.db.pool.fetchval(
                "SELECT count(*) FROM tickets WHERE source = 'contact'"
            )
    finally:
        await receiver.stop()

    check_poison_letters(poison, dlq, expected_dlq, holders_of)
    unknown = [(c, why) for c, why, value in dlq[topics.ORDERS.name] if value == stranger]
    assert sorted(c for c, _ in unknown) == sorted(CONSUMERS[topics.ORDERS.name])
    assert all("unknown shop" in why for _, why in unknown), unknown
    # order steps only: the valid contact's ticket and SLA's promise breaches are webhooks too
    order_hooks = {r.webhook_id for r in receiver.requests if r.json()["type"] in ORDER_EVENT_TYPES}
    assert order_hooks == wanted_hooks
    assert ticket_count == 1  # the one valid contact
    # The dead-letter counters agree with the dead_letters tables of the four services.
    dead_after = counter_values("careloop_dead_letters_total")
    check_counters_match_tables(tables, dead_before, dead_after)
    assert sum(r["n"] for rows in tables.values() for r in rows) == sum(expected_dlq.values())
