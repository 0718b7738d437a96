"""Automatic answers to "where is my order?" over the real Kafka and Postgres: a contact about a known
order is answered at once with its tracking link (ticket.replied automatic, support.replies), waits
pending and is solved as deflected after the shop's time (test clock); a customer writing back goes to
an agent one priority step up; an answer after a delay notice says so and is counted; the per-shop
switch and the shops' isolation hold."""

from __future__ import annotations

from runtime.settings import Settings
from tests.intake.helpers import Intake, fetchval, get_ticket, post_contact, running_intake, unique
from tests.intake.wismo_support import (
    TRACKING_URL,
    answers_on,
    customer,
    later,
    metric,
    replied,
    requested,
    ship,
    sweep,
    ticket_event,
)
from tests.support.shops import KEY_A, KEY_B, SHOP_A, SHOP_B, auth

ANSWERS = "careloop_intake_automatic_answers_total"
OUTCOMES = "careloop_intake_automatic_answer_outcomes_total"
AFTER_NOTICE = "careloop_intake_contacts_after_notice_total"


async def ask(intake: Intake, order_id: str | None, key: str = KEY_A, **fields: str) -> str:
    body = {
        "customer_email": "anna@example.com",
        "customer_name": "Anna",
        "subject": "Where is my order?",
        "body": "Where is my parcel? I ordered it last week.",
        **fields,
    }
    if order_id is not None:
        body["order_id"] = order_id
    response = await post_contact(intake, key, **body)
    assert response.status_code == 201, response.text
    ticket_id: str = response.json()["ticket_id"]
    return ticket_id


async def test_an_answer_with_the_tracking_link_then_deflected_after_the_shops_time(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        await answers_on(intake, deflect_after_hours=12)
        order_id = unique("o")
        await ship(intake, order_id)
        sent_before = await metric(intake, ANSWERS, shop=SHOP_A, category="order_status")
        deflected_before = await metric(intake, OUTCOMES, shop=SHOP_A, outcome="deflected")

        ticket_id = await ask(intake, order_id, customer_locale="en")

        ticket = await get_ticket(intake, ticket_id)
        assert (ticket["status"], ticket["category"]) == ("pending", "order_status")
        answer = ticket["messages"][-1]
        assert (answer["author"], answer["automatic"], answer["internal"]) == ("system", True, False)
        assert TRACKING_URL in answer["body"]
        assert "TRK-77" in answer["body"]
        assert "InPost" in answer["body"]
        assert answer["body"].startswith("Hello Anna,")
        assert answer["body"].endswith("Shop A")
        assert ticket["deflect_at"] is not None

        [event] = await replied(intake, ticket_id)
        assert (event.data.automatic, event.data.message_id) == (True, answer["id"])
        assert TRACKING_URL in event.data.text
        assert event.data.contact.email == "anna@example.com"
        outbound = await requested(intake, answer["id"])
        assert outbound.data.automatic is True
        assert outbound.data.text == event.data.text
        assert await metric(intake, ANSWERS, shop=SHOP_A, category="order_status") == sent_before + 1

        later(intake, hours=11)
        await sweep(intake)
        assert (await get_ticket(intake, ticket_id))["status"] == "pending"

        later(intake, hours=2)
        await sweep(intake)
        await sweep(intake)  # a second run finds nothing left to do
        assert (await get_ticket(intake, ticket_id))["status"] == "solved"
        solved = await ticket_event(intake, ticket_id, "ticket.solved")
        assert solved.data.reason == "deflected"
        outcome = await fetchval(intake, "SELECT outcome FROM wismo_contacts WHERE ticket_id = $1", ticket_id)
        assert outcome == "deflected"
        assert await metric(intake, OUTCOMES, shop=SHOP_A, outcome="deflected") == deflected_before + 1


async def test_a_customer_writing_back_goes_to_an_agent_one_step_up(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        await answers_on(intake)
        order_id = unique("o")
        await ship(intake, order_id)
        came_back_before = await metric(intake, OUTCOMES, shop=SHOP_A, outcome="came_back")
        ticket_id = await ask(intake, order_id)
        before = await get_ticket(intake, ticket_id)
        assert (before["status"], before["priority"]) == ("pending", "normal")

        later(intake, hours=2)
        response = await post_contact(
            intake, customer_email="anna@example.com", order_id=order_id, body="The tracking shows nothing!"
        )
        assert response.status_code == 200, response.text
        assert (response.json()["outcome"], response.json()["ticket_id"]) == ("joined", ticket_id)

        after = await get_ticket(intake, ticket_id)
        assert (after["status"], after["priority"], after["deflect_at"]) == ("open", "high", None)
        outcome = await fetchval(intake, "SELECT outcome FROM wismo_contacts WHERE ticket_id = $1", ticket_id)
        assert outcome == "came_back"
        assert await metric(intake, OUTCOMES, shop=SHOP_A, outcome="came_back") == came_back_before + 1
        changed = await ticket_event(intake, ticket_id, "ticket.status_changed")
        assert changed.data.status.value == "pending"  # the first change: the answer's

        later(intake, days=2)
        await sweep(intake)
        assert (await get_ticket(intake, ticket_id))["status"] == "open"  # an agent's now, not deflected


async def test_after_a_delay_notice_the_answer_says_so_and_is_counted(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        await answers_on(intake, delay_notices=True)
        order_id = unique("o")
        await ship(intake, order_id, who=customer(locale="pl-PL"), delay="burza na trasie")
        counted_before = await metric(intake, AFTER_NOTICE, shop=SHOP_A, answered="true")

        # no order id: the customer's only open order is the one asked about
        ticket_id = await ask(intake, None, subject="Gdzie jest moja paczka?", body="Czekam i czekam.")

        ticket = await get_ticket(intake, ticket_id)
        assert ticket["category"] == "order_status"  # by its words: the contact named no order
        answer = ticket["messages"][-1]["body"]
        assert answer.startswith("Dzień dobry Anna,")
        assert f"zamówienia {order_id}" in answer
        assert "burza na trasie" in answer
        assert "Informowaliśmy o tym opóźnieniu 2026-01-04." in answer
        assert "Nowy przewidywany termin dostawy: 2026-01-12." in answer
        assert await metric(intake, AFTER_NOTICE, shop=SHOP_A, answered="true") == counted_before + 1
        row = await intake.app.runtime.db.pool.fetchrow(
            "SELECT order_id, after_notice, order_status FROM wismo_contacts WHERE ticket_id = $1", ticket_id
        )
        assert row is not None
        assert dict(row) == {"order_id": order_id, "after_notice": True, "order_status": "delayed"}

        summary = await intake.client.get("/v1/automatic-answers/summary", headers=auth(KEY_A))
        assert summary.status_code == 200, summary.text
        body = summary.json()
        assert {k: body[k] for k in ("contacts", "answered", "after_notice", "delayed_orders")} == {
            "contacts": 1,
            "answered": 1,
            "after_notice": 1,
            "delayed_orders": 1,
        }
        assert body["delayed_orders_asked_about"] == 1


async def test_switched_off_no_answer_and_the_ticket_waits_for_an_agent(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        first, second_order = unique("o"), unique("o")
        await ship(intake, first)
        await ship(intake, second_order)
        settings = await intake.client.get("/v1/settings/automatic-answers", headers=auth(KEY_A))
        assert settings.json()["enabled"] is False  # the default

        ticket_id = await ask(intake, first)
        await answers_on(intake)
        await answers_on(intake, enabled=False)  # switched on, then off again
        second = await ask(intake, second_order)

        for tid in (ticket_id, second):
            ticket = await get_ticket(intake, tid)
            assert ticket["status"] == "open"
            assert [m["author"] for m in ticket["messages"]] == ["customer"]
        assert await fetchval(intake, "SELECT count(*) FROM wismo_contacts") == 0
        assert await fetchval(intake, "SELECT count(*) FROM messages WHERE automatic") == 0


async def test_shops_are_isolated_and_only_the_orders_customer_is_answered(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        await answers_on(intake)  # shop A only
        order_id = unique("o")
        await ship(intake, order_id)  # shop A's order
        await ship(intake, order_id, shop_id=SHOP_B)  # the same order id at shop B

        b_ticket = await ask(intake, order_id, key=KEY_B)
        assert (await get_ticket(intake, b_ticket, key=KEY_B))["status"] == "open"
        b_settings = await intake.client.get("/v1/settings/automatic-answers", headers=auth(KEY_B))
        assert b_settings.json()["enabled"] is False

        # someone else naming shop A's order learns nothing of it
        stranger = await ask(intake, order_id, customer_email="mallory@example.com")
        ticket = await get_ticket(intake, stranger)
        assert ticket["status"] == "open"
        assert len(ticket["messages"]) == 1

        answered = await ask(intake, order_id)
        assert (await get_ticket(intake, answered))["status"] == "pending"
        shops = await intake.app.runtime.db.pool.fetch("SELECT shop_id, ticket_id FROM wismo_contacts")
        assert [(r["shop_id"], r["ticket_id"]) for r in shops] == [(SHOP_A, answered)]


async def test_a_template_that_does_not_compile_is_refused(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        response = await intake.client.put(
            "/v1/settings/automatic-answers",
            json={"enabled": True, "templates": {"en": "Hi {% if %}"}},
            headers=auth(KEY_A),
        )
        assert response.status_code == 422
        assert "template syntax error" in response.text
        own = "Order {{ order_id }} is {{ status }}; track: {{ tracking_url }}"
        await answers_on(intake, templates={"en": own})
        order_id = unique("o")
        await ship(intake, order_id)
        ticket_id = await ask(intake, order_id)
        answer = (await get_ticket(intake, ticket_id))["messages"][-1]["body"]
        assert answer == f"Order {order_id} is shipped; track: {TRACKING_URL}"


async def test_a_message_after_the_delay_notice_on_an_earlier_ticket_counts_once(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        await answers_on(intake, enabled=False, delay_notices=True)  # counted, not answered
        order_id = unique("o")
        await ship(intake, order_id)
        before = await metric(intake, AFTER_NOTICE, shop=SHOP_A, answered="false")
        ticket_id = await ask(intake, order_id)  # before any delay: not after a notice
        assert await metric(intake, AFTER_NOTICE, shop=SHOP_A, answered="false") == before

        later(intake, hours=1)
        await ship(intake, order_id, delay="the depot flooded")  # the same steps again, and a delay
        for body in ("Still nothing?", "Hello?"):
            later(intake, minutes=5)
            response = await post_contact(
                intake, customer_email="anna@example.com", order_id=order_id, body=body
            )
            assert (response.json()["outcome"], response.json()["ticket_id"]) == ("joined", ticket_id)

        assert await metric(intake, AFTER_NOTICE, shop=SHOP_A, answered="false") == before + 1
        row = await intake.app.runtime.db.pool.fetchrow(
            "SELECT after_notice, answer_message_id FROM wismo_contacts WHERE ticket_id = $1", ticket_id
        )
        assert row is not None
        assert (row["after_notice"], row["answer_message_id"]) == (True, None)
        assert (await get_ticket(intake, ticket_id))["status"] == "open"
