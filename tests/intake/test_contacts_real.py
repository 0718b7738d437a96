"""Contacts from every channel, over HTTP and Kafka, become tickets: threading, dedupe, categories,
order context, and bad input refused without writing anything."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest

from runtime.kafka import DLQ_REASON
from runtime.settings import Settings
from schemas.registry import make_event
from schemas.topics import CONTACTS, ORDERS
from schemas.v1.common import Customer
from schemas.v1.contacts import ContactReceived
from schemas.v1.orders import OrderCreated, OrderShipped
from tests.intake.helpers import (
    Intake,
    events_by_ticket,
    fetchval,
    get_ticket,
    metric_value,
    post_contact,
    running_intake,
    ticket_events,
    types_of,
)
from tests.support.kafka import produce, read_topic
from tests.support.shops import KEY_A, KEY_B, SHOP_A, auth
from tests.support.wait import eventually

pytestmark = pytest.mark.kafka

CHANNELS = ("web_form", "email", "chat", "phone", "social")


async def produce_contact(intake: Intake, contact: ContactReceived) -> str:
    event = make_event("contact.received", "gateway/test", contact)
    await produce(intake.settings, CONTACTS.name, event, key=f"{contact.shop_id}:{contact.customer_email}")
    return event.id


async def test_every_channel_over_http_and_kafka_opens_a_ticket_and_announces_it(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        opened: dict[str, str] = {}
        for i, channel in enumerate(CHANNELS):
            who = {"customer_email": f"http{i}@example.com"}
            if channel == "phone":
                who = {"customer_phone": "+48 600 000 00" + str(i)}
            if channel == "social":
                who = {"customer_handle": "@anna_social"}
            r = await post_contact(intake, channel=channel, subject=f"Hi from {channel}", **who)
            assert r.status_code == 201, r.text
            assert r.json()["outcome"] == "created"
            opened[channel] = r.json()["ticket_id"]
        for channel in CHANNELS:
            await produce_contact(
                intake,
                ContactReceived(
                    shop_id=SHOP_A,
                    channel=channel,
                    customer_email=f"kafka-{channel}@example.com",
                    body=f"Hello over the {channel} gateway",
                    channel_message_id=f"gw-{channel}-1",
                ),
            )

        async def all_tickets() -> bool:
            return bool(await fetchval(intake, "SELECT count(*) FROM tickets") == 2 * len(CHANNELS))

        await eventually(all_tickets)
        rows = await intake.app.runtime.db.fetch("SELECT channel, customer_email FROM tickets")
        assert sorted(r["channel"] for r in rows) == sorted(CHANNELS * 2)

        announced = await events_by_ticket(intake, at_least=4 * len(CHANNELS))
        for channel, ticket_id in opened.items():
            events = announced[ticket_id]
            assert types_of(events) == ["ticket.created", "ticket.message_added"]
            created, added = events[0].data, events[1].data
            assert (created.shop_id, created.channel.value, created.subject) == (
                SHOP_A,
                channel,
                f"Hi from {channel}",
            )
            assert created.status.value == "open"
            assert created.source == "contact"
            assert added.author.value == "customer"
            assert added.internal is False
            assert events[0].subject == ticket_id  # keyed and subject'ed by ticket id
        for channel in CHANNELS:
            kafka_ticket = await fetchval(
                intake, "SELECT id FROM tickets WHERE customer_email = $1", f"kafka-{channel}@example.com"
            )
            events = announced[kafka_ticket]
            assert types_of(events) == ["ticket.created", "ticket.message_added"]
            assert (events[0].data.channel.value, events[0].data.customer_email) == (
                channel,
                f"kafka-{channel}@example.com",
            )


async def test_threading_dedupe_and_repeat_contacts(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        anna = {"customer_email": "anna@example.com", "customer_locale": "pl-PL"}
        first = await post_contact(
            intake, order_id="o-1", channel_message_id="mail-1", body="Where is it?", **anna
        )
        t1 = first.json()["ticket_id"]
        intake.clock.advance(timedelta(hours=2))
        # same customer, same order, another channel: the same conversation
        joined = await post_contact(intake, channel="chat", order_id="o-1", body="Any news?", **anna)
        assert (joined.status_code, joined.json()["outcome"], joined.json()["ticket_id"]) == (
            200,
            "joined",
            t1,
        )
        # the same e-mail delivered again: one message, nothing new
        again = await post_contact(
            intake, order_id="o-1", channel_message_id="mail-1", body="Where is it?", **anna
        )
        assert again.json() == {**first.json(), "outcome": "duplicate"}
        # ... and once more through the gateway topic, under a fresh event id
        await produce_contact(
            intake,
            ContactReceived(
                shop_id=SHOP_A,
                channel="email",
                order_id="o-1",
                channel_message_id="mail-1",
                body="Where is it?",
                **anna,
            ),
        )
        # another order is another ticket
        other = await post_contact(intake, order_id="o-2", body="And the other order?", **anna)
        assert other.json()["outcome"] == "created"
        # an e-mail thread continues its ticket even without the order id or from another address
        started = await post_contact(
            intake, customer_email="bob@example.com", thread_id="<root@mail>", body="Hi"
        )
        reply = await post_contact(
            intake, customer_email="bob.work@example.com", thread_id="<root@mail>", body="Me again"
        )
        assert reply.json()["ticket_id"] == started.json()["ticket_id"]

        async def gateway_copy_seen() -> bool:
            return bool(
                await fetchval(
                    intake, "SELECT count(*) FROM processed_events WHERE consumer = 'intake-contacts'"
                )
            )

        await eventually(gateway_copy_seen)
        ticket = await get_ticket(intake, t1)
        assert [m["body"] for m in ticket["messages"]] == ["Where is it?", "Any news?"]
        assert [m["channel"] for m in ticket["messages"]] == ["email", "chat"]
        assert (
            await fetchval(intake, "SELECT count(*) FROM messages WHERE channel_message_id = 'mail-1'") == 1
        )

        # past the threading window a new ticket opens; within 7 days of the first it is a repeat
        intake.clock.advance(timedelta(hours=73))
        repeat = await post_contact(
            intake, order_id="o-1", body="Still nothing arrived, where is it?", **anna
        )
        assert repeat.json()["outcome"] == "created"
        t4 = await get_ticket(intake, repeat.json()["ticket_id"])
        assert (t4["is_repeat"], t4["repeat_of"]) == (True, t1)
        first_priority = (await get_ticket(intake, t1))["priority"]
        assert ["low", "normal", "high", "urgent"].index(t4["priority"]) > [
            "low",
            "normal",
            "high",
            "urgent",
        ].index(first_priority)
        created = (await ticket_events(intake, t4["id"], at_least=1))[0]
        assert created.data.is_repeat is True
        listed = await intake.client.get("/v1/tickets", params={"is_repeat": "true"}, headers=auth(KEY_A))
        assert [t["id"] for t in listed.json()["tickets"]] == [t4["id"]]

        # eight days on, the same order is neither threaded nor a repeat
        intake.clock.advance(timedelta(days=8))
        later = await post_contact(intake, order_id="o-1", body="A question about o-1", **anna)
        assert (await get_ticket(intake, later.json()["ticket_id"]))["is_repeat"] is False


async def test_categories_come_from_the_text_the_order_state_and_the_shops_rules(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        carl = Customer(id="cust-77", email="carl@example.com", locale="de-DE")
        today = intake.clock.now().date()
        for order_id, promised in (
            ("o-late", today - timedelta(days=2)),
            ("o-ontime", today + timedelta(days=3)),
        ):
            base = {"shop_id": SHOP_A, "order_id": order_id, "customer": carl}
            await produce(
                infra,
                ORDERS.name,
                make_event(
                    "order.created",
                    "shop",
                    OrderCreated(**base, total=Decimal("10"), currency="EUR"),
                    subject=order_id,
                ),
            )
            await produce(
                infra,
                ORDERS.name,
                make_event(
                    "order.shipped",
                    "shop",
                    OrderShipped(
                        **base, carrier="DHL", tracking_number="T1", promised_delivery_date=promised
                    ),
                    subject=order_id,
                ),
            )

        async def both_shipped() -> bool:
            return bool(await fetchval(intake, "SELECT count(*) FROM orders WHERE status = 'shipped'") == 2)

        await eventually(both_shipped)
        late = await post_contact(
            intake, customer_email="carl@example.com", order_id="o-late", subject="Where is my parcel?"
        )
        ontime = await post_contact(
            intake, customer_email="carl@example.com", order_id="o-ontime", subject="Where is my parcel?"
        )
        t_late = await get_ticket(intake, late.json()["ticket_id"])
        t_ontime = await get_ticket(intake, ontime.json()["ticket_id"])
        assert t_late["category"] == "delivery_delay"
        assert t_ontime["category"] == "order_status"
        assert t_late["order"] == {
            "id": "o-late",
            "status": "shipped",
            "status_at": t_late["order"]["status_at"],
            "promised_delivery_date": str(today - timedelta(days=2)),
        }
        assert t_late["customer"]["id"] == "cust-77"
        created = (await ticket_events(intake, t_late["id"], at_least=1))[0].data
        assert (created.customer_id, created.category.value) == ("cust-77", "delivery_delay")
        # no order given: the customer id is still known from the customer's orders, by e-mail
        general = await post_contact(intake, customer_email="CARL@example.com", body="Is this in size 44?")
        t_general = await get_ticket(intake, general.json()["ticket_id"])
        assert (t_general["category"], t_general["priority"], t_general["customer"]["id"]) == (
            "product_question",
            "low",
            "cust-77",
        )

        # a shop changes its rule table: it applies to new tickets only, and only for that shop
        rules = (await intake.client.get("/v1/rules", headers=auth(KEY_A))).json()
        rules["rules"].insert(0, {"category": "payment", "keywords": ["raty"], "order_statuses": []})
        put = await intake.client.put("/v1/rules", json=rules, headers=auth(KEY_A))
        assert put.status_code == 200, put.text
        a = await post_contact(intake, customer_email="dora@example.com", body="Czy mogę kupić na raty?")
        b = await post_contact(
            intake, KEY_B, customer_email="dora@example.com", body="Czy mogę kupić na raty?"
        )
        assert (await get_ticket(intake, a.json()["ticket_id"]))["category"] == "payment"
        assert (await get_ticket(intake, b.json()["ticket_id"], KEY_B))["category"] == "other"
        bad = await intake.client.put(
            "/v1/rules", json={"rules": [{"category": "payment"}]}, headers=auth(KEY_A)
        )
        assert bad.status_code == 422
        assert "keywords, order_statuses or both" in bad.text
        reset = await intake.client.delete("/v1/rules", headers=auth(KEY_A))
        assert reset.json()["rules"][0]["category"] == "complaint_repair"

        # order context arriving after the ticket still fills in the customer id for later events
        early = await post_contact(intake, customer_email="eve@example.com", order_id="o-new", body="Hello")
        await produce(
            infra,
            ORDERS.name,
            make_event(
                "order.created",
                "shop",
                OrderCreated(
                    shop_id=SHOP_A,
                    order_id="o-new",
                    customer=Customer(id="cust-88", email="eve@example.com"),
                    total=Decimal("5"),
                    currency="PLN",
                ),
                subject="o-new",
            ),
        )

        async def filled_in() -> bool:
            return bool((await get_ticket(intake, early.json()["ticket_id"]))["customer"]["id"] == "cust-88")

        await eventually(filled_in)


async def test_bad_input_is_refused_precisely_and_writes_nothing(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        c = intake.client
        ok = {"channel": "email", "customer_email": "x@example.com", "body": "hello"}
        assert (await c.post("/v1/contacts", json=ok)).status_code == 401
        wrong = await c.post("/v1/contacts", json=ok, headers=auth("clk_wrong"))
        assert wrong.json() == {"error": "unauthorized", "detail": "unknown API key"}
        garbled = await c.post(
            "/v1/contacts", content=b"\xff\xfe{", headers={**auth(KEY_A), "content-type": "application/json"}
        )
        assert garbled.status_code in (400, 422)
        assert set(garbled.json()) == {"error", "detail"}
        nobody = await c.post("/v1/contacts", json={"channel": "email", "body": "hi"}, headers=auth(KEY_A))
        assert nobody.status_code == 422
        assert "one of customer_email, customer_phone or customer_handle is required" in nobody.text
        channel = await c.post("/v1/contacts", json={**ok, "channel": "pigeon"}, headers=auth(KEY_A))
        assert channel.status_code == 422
        assert channel.json()["detail"][0]["field"] == "channel"
        extra = await c.post("/v1/contacts", json={**ok, "priority": "urgent"}, headers=auth(KEY_A))
        assert extra.status_code == 422
        assert extra.json()["detail"][0]["field"] == "priority"
        email = await c.post(
            "/v1/contacts", json={**ok, "customer_email": "not-an-email"}, headers=auth(KEY_A)
        )
        assert email.status_code == 422
        assert email.json()["detail"][0]["field"] == "customer_email"
        empty = await c.post("/v1/contacts", json={**ok, "body": ""}, headers=auth(KEY_A))
        assert empty.status_code == 422
        huge = await c.post("/v1/contacts", json={**ok, "body": "x" * 300_000}, headers=auth(KEY_A))
        assert huge.status_code == 413
        assert huge.json()["error"] == "body_too_large"
        broken = await c.post(
            "/v1/contacts", content=b"{not json", headers={**auth(KEY_A), "content-type": "application/json"}
        )
        assert broken.status_code == 422
        other_shop = await c.post("/v1/contacts", json={**ok, "shop_id": "shop-b"}, headers=auth(KEY_A))
        assert other_shop.status_code == 403
        assert other_shop.json()["error"] == "shop_mismatch"
        no_digits = await c.post(
            "/v1/contacts",
            json={"channel": "phone", "customer_phone": "--", "body": "hi"},
            headers=auth(KEY_A),
        )
        assert no_digits.status_code == 422
        assert no_digits.json()["error"] == "no_customer_identity"
        assert (await c.get("/v1/tickets/tkt_nope", headers=auth(KEY_A))).status_code == 404
        assert (await c.get("/v1/tickets", params={"limit": 0}, headers=auth(KEY_A))).status_code == 422
        assert (await c.get("/v1/tickets", params={"status": "lost"}, headers=auth(KEY_A))).status_code == 422
        assert await fetchval(intake, "SELECT count(*) FROM tickets") == 0
        # nothing of a contact's: the shops' own seed (shops.state, audit.events) may still be waiting
        assert await fetchval(intake, "SELECT count(*) FROM outbox WHERE topic LIKE '%tickets.events'") == 0

        # gateways: an unknown shop and an invalid contact are dead-lettered with the reason
        await produce_contact(
            intake, ContactReceived(shop_id="shop-z", channel="chat", customer_handle="h", body="hi")
        )
        invalid = make_event(
            "contact.received",
            "gw",
            ContactReceived(shop_id=SHOP_A, channel="chat", customer_handle="h", body="x"),
        )
        raw = invalid.model_dump(mode="json")
        raw["data"]["body"] = ""

        await produce(infra, CONTACTS.name, json.dumps(raw).encode(), key="k")
        dlq = await read_topic(infra, CONTACTS.dlq, at_least=2)
        reasons = sorted(dict(r.headers)[DLQ_REASON].decode() for r in dlq)
        assert reasons[0].startswith("invalid contact.received data: body:")
        assert reasons[1] == "unprocessable: unknown shop 'shop-z'"
        assert await fetchval(intake, "SELECT count(*) FROM dead_letters") == 2
        assert await fetchval(intake, "SELECT count(*) FROM tickets") == 0


async def test_the_customers_language_comes_from_the_contact_else_the_order_else_the_shop(
    infra: Settings,
) -> None:
    async with running_intake(infra) as intake:
        await produce(
            infra,
            ORDERS.name,
            make_event(
                "order.created",
                "shop",
                OrderCreated(
                    shop_id=SHOP_A,
                    order_id="o-de",
                    customer=Customer(id="c-de", email="hans@example.com", locale="de-DE"),
                    total=Decimal("1"),
                    currency="EUR",
                ),
                subject="o-de",
            ),
        )

        async def order_known() -> bool:
            return bool(await fetchval(intake, "SELECT count(*) FROM orders") == 1)

        await eventually(order_known)
        said = await post_contact(intake, customer_email="x@example.com", customer_locale="uk-UA")
        from_order = await post_contact(intake, customer_email="hans@example.com", order_id="o-de")
        from_shop_a = await post_contact(intake, customer_email="y@example.com")
        from_shop_b = await post_contact(intake, KEY_B, customer_email="y@example.com")
        locales = [
            (await get_ticket(intake, r.json()["ticket_id"], key))["customer"]["locale"]
            for r, key in ((said, KEY_A), (from_order, KEY_A), (from_shop_a, KEY_A), (from_shop_b, KEY_B))
        ]
        assert locales == ["uk-UA", "de-DE", "pl", "en"]  # shop-a is Polish, shop-b English


async def test_dates_are_domain_time(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        intake.clock.set(intake.clock.now().replace(year=2027, month=6, day=1))
        r = await post_contact(intake, customer_email="time@example.com")
        ticket = await get_ticket(intake, r.json()["ticket_id"])
        assert ticket["created_at"].startswith("2027-06-01")
        assert date.fromisoformat(ticket["messages"][0]["at"][:10]) == date(2027, 6, 1)


async def test_simultaneous_contacts_of_one_customer_open_one_ticket(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        # a chat burst and a gateway retry storm at once: one conversation, each message once
        posts = [
            post_contact(
                intake,
                channel="chat",
                customer_email="burst@example.com",
                order_id="o-9",
                body=f"line {i % 8}",
                channel_message_id=f"chat-{i % 8}",
            )
            for i in range(16)
        ]
        answers = await asyncio.gather(*posts)
        assert {r.status_code for r in answers} <= {200, 201}
        assert len({r.json()["ticket_id"] for r in answers}) == 1
        outcomes = sorted(r.json()["outcome"] for r in answers)
        assert outcomes == ["created"] + ["duplicate"] * 8 + ["joined"] * 7
        assert await fetchval(intake, "SELECT count(*) FROM tickets") == 1
        assert await fetchval(intake, "SELECT count(*) FROM messages") == 8


async def test_one_channel_message_racing_in_under_two_identities_is_stored_once(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        # a gateway that saw the sender once by e-mail and once by phone: different locks, one message
        twins = [
            post_contact(
                intake, channel="email", customer_email=f"twin{i}@example.com", channel_message_id="same-id"
            )
            for i in range(2)
        ] + [
            post_contact(
                intake, channel="email", customer_phone="+48 111 222 333", channel_message_id="same-id"
            )
        ]
        before = (await intake.client.get("/metrics")).text
        answers = await asyncio.gather(*twins)
        after = (await intake.client.get("/metrics")).text
        assert sorted(r.status_code for r in answers) == [200, 200, 201]
        created = "careloop_intake_tickets_created_total"
        # the losers' rolled-back tickets are not counted
        assert (
            metric_value(after, created, channel="email") - metric_value(before, created, channel="email")
            == 1
        )
        assert sorted(r.json()["outcome"] for r in answers) == ["created", "duplicate", "duplicate"]
        assert await fetchval(intake, "SELECT count(*) FROM messages") == 1
        assert await fetchval(intake, "SELECT count(*) FROM tickets") == 1  # the losers' tickets rolled back
