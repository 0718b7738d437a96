"""Customer 360 over the real Kafka and Postgres: a customer's orders (order events), tickets (contacts)
and survey answers (survey events) become GET /v1/customers with CLV per currency computed by hand;
the CLV and detractor status travel with their tickets (the API and the ticket events), follow what
arrives later, and raise a valued customer's complaint by the shop's rule; another shop's rows never
count."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from runtime.settings import Settings
from schemas.v1.common import Customer
from schemas.v1.surveys import SurveyKind
from services.intake.domain.rules import DEFAULT_RULES
from tests.intake.customer_support import answered, day, order, step
from tests.intake.helpers import Intake, get_ticket, post_contact, running_intake, ticket_events
from tests.support.shops import KEY_A, KEY_B, SHOP_B, auth
from tests.support.wait import eventually

ANNA = Customer(id="c-anna", email="anna@example.com", name="Anna")
BOB = Customer(id="c-bob", email="bob@example.com", name="Bob")


async def anna_s_orders(intake: Intake) -> None:
    await order(intake, "o-1", ANNA, day(1, 10), "100.00", "EUR")
    await order(intake, "o-2", ANNA, day(7, 10), "300.00", "EUR")
    await step(intake, "order.delivered", "o-2", ANNA, day(7, 14), delivered_at=day(7, 14))
    await step(intake, "return.requested", "o-2", ANNA, day(7, 20), return_id="r-1")
    await order(intake, "o-3", ANNA, day(9, 1), "50.00", "PLN")
    await order(intake, "o-4", ANNA, day(10, 1), "999.00", "EUR")
    await step(intake, "order.cancelled", "o-4", ANNA, day(10, 2))
    await order(intake, "o-5", ANNA, day(11, 1), "80.00", "EUR")
    await step(intake, "repair.received", "o-5", ANNA, day(12, 1), repair_id="rp-1", turnaround_days=14)
    # the same customer id and e-mail in shop B: never in shop A's figures
    await order(intake, "o-b1", ANNA, day(3, 1), "5000.00", "EUR", shop_id=SHOP_B)
    await order(intake, "o-bob", BOB, day(6, 1), "20.00", "EUR")


# By hand. Counted: o-1 100 EUR (10 Jan), o-2 300 EUR (10 Jul, in return: still counted), o-3 50 PLN
# (1 Sep), o-5 80 EUR (1 Nov, in repair); o-4 was cancelled. Span 10 Jan -> 1 Nov = 295 days, under a
# year: frequency over a year, lifetime the expected 3 years.
# EUR: 3 orders, 480, AOV 160, 3 a year, CLV 160 * 3 * 3 = 1440; PLN: 1 order, AOV 50, CLV 50 * 1 * 3 = 150.
ANNA_CLV = {"EUR": "1440.00", "PLN": "150.00"}


def check_value(value: dict[str, Any]) -> None:
    assert value["order_count"] == 4
    assert (value["first_order_at"], value["last_order_at"]) == (
        "2025-01-10T10:00:00Z",
        "2025-11-01T10:00:00Z",
    )
    assert value["observed_span_days"] == 295.0
    assert (value["frequency_basis_days"], value["lifetime_years"]) == (365.0, "3.0000")
    assert value["by_currency"]["EUR"] == {
        "orders": 3,
        "total": "480.00",
        "average_order_value": "160.00",
        "purchase_frequency_per_year": "3.0000",
        "lifetime_years": "3.0000",
        "clv": "1440.00",
    }
    assert value["by_currency"]["PLN"]["average_order_value"] == "50.00"
    assert value["clv"] == ANNA_CLV


async def customer(intake: Intake, path: str, key: str = KEY_A, **params: str) -> dict[str, Any]:
    response = await intake.client.get(path, params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def complain(intake: Intake, who: Customer, order_id: str) -> str:
    response = await post_contact(
        intake,
        customer_email=who.email,
        customer_name=who.name,
        order_id=order_id,
        subject="Broken kettle",
        body="The kettle is broken, it does not heat at all.",
    )
    assert response.status_code == 201, response.text
    ticket_id: str = response.json()["ticket_id"]
    return ticket_id


async def test_a_customers_360_their_value_by_hand_and_what_their_tickets_carry(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        rules = DEFAULT_RULES.model_dump(mode="json")
        rules["customer_rule"] = {"min_clv": {"EUR": "1000"}, "detractors": True, "priority": "high"}
        put = await intake.client.put("/v1/rules", json=rules, headers=auth(KEY_A))
        assert put.status_code == 200, put.text
        await anna_s_orders(intake)

        body = await customer(intake, "/v1/customers/c-anna")
        assert (body["customer_ids"], body["emails"]) == (["c-anna"], ["anna@example.com"])
        check_value(body["value"])
        assert body["orders_total"] == 5
        assert [(o["order_id"], o["status"], o["counted"]) for o in body["orders"]] == [
            ("o-5", "repair_received", True),
            ("o-4", "cancelled", False),
            ("o-3", "created", True),
            ("o-2", "return_requested", True),
            ("o-1", "created", True),
        ]
        assert (body["orders"][2]["total"], body["orders"][2]["currency"]) == ("50.00", "PLN")
        assert body["orders"][0]["placed_at"] == "2025-11-01T10:00:00Z"  # not the repair's time
        assert (body["returns_total"], [o["order_id"] for o in body["returns"]]) == (1, ["o-2"])
        assert (body["repairs_total"], [o["order_id"] for o in body["repairs"]]) == (1, ["o-5"])
        by_email = await customer(intake, "/v1/customers", email="Anna@Example.com")
        check_value(by_email["value"])

        # a valued customer's complaint is raised by the shop's rule (CLV 1440 EUR >= 1000 EUR) ...
        anna_ticket = await complain(intake, ANNA, "o-5")
        ticket = await get_ticket(intake, anna_ticket)
        assert (ticket["category"], ticket["priority"]) == ("complaint_repair", "high")
        assert (ticket["customer_value"], ticket["customer_detractor"]) == (ANNA_CLV, False)
        # ... Bob's (CLV 60 EUR) is not
        bob_ticket = await get_ticket(intake, await complain(intake, BOB, "o-bob"))
        assert (bob_ticket["priority"], bob_ticket["customer_value"]) == ("normal", {"EUR": "60.00"})
        created = (await ticket_events(intake, anna_ticket, at_least=1))[0]
        assert created.type == "ticket.created"
        # what notify puts in a webhook's data: the decoded event's fields
        data = created.data.model_dump(mode="json")
        assert (data["customer_value"], data["customer_detractor"]) == (ANNA_CLV, False)

        # survey answers: a happy CSAT about the ticket, a CES, then an unhappy NPS about an order
        await answered(intake, "s-csat", SurveyKind.CSAT, 5, day(12, 20), ticket_id=anna_ticket)
        await answered(intake, "s-ces", SurveyKind.CES, 2, day(12, 21), order_id="o-3")
        assert not (await get_ticket(intake, anna_ticket))["customer_detractor"]
        await answered(intake, "s-nps", SurveyKind.NPS, 3, day(12, 22), order_id="o-1", unhappy_customer=ANNA)

        async def now_a_detractor() -> bool:
            return bool((await get_ticket(intake, anna_ticket))["customer_detractor"])

        await eventually(now_a_detractor, timeout=20)  # her open ticket was refreshed
        body = await customer(intake, "/v1/customers/c-anna")
        surveys = body["surveys"]
        assert surveys["detractor"] is True
        assert {k: (a["survey_id"], a["score"]) for k, a in surveys["latest"].items()} == {
            "ces": ("s-ces", 2),
            "csat": ("s-csat", 5),
            "nps": ("s-nps", 3),
        }
        tickets = body["tickets"]
        # her complaint and the follow-up the unhappy answer opened, both open
        assert (tickets["total"], tickets["open"], tickets["solved"], tickets["breaches"]) == (2, 2, 0, 0)
        follow_up = next(t for t in tickets["recent"] if t["id"] != anna_ticket)
        assert (await get_ticket(intake, follow_up["id"]))["customer_detractor"] is True

        # a later order moves her value on her open ticket: EUR 4 orders, 580, span 320 days: 580 * 3
        await order(intake, "o-6", ANNA, day(11, 26), "100.00", "EUR")

        async def moved() -> dict[str, Any] | None:
            value = (await get_ticket(intake, anna_ticket))["customer_value"]
            return value if value == {"EUR": "1740.00", "PLN": "150.00"} else None

        assert await eventually(moved, timeout=20)

        # shop B sees its own Anna only, and shop A's Bob not at all
        in_b = await customer(intake, "/v1/customers/c-anna", key=KEY_B)
        assert (in_b["value"]["clv"], in_b["orders_total"], in_b["tickets"]["total"]) == (
            {"EUR": "15000.00"},
            1,
            0,
        )
        unknown = await intake.client.get("/v1/customers/c-bob", headers=auth(KEY_B))
        assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")
        assert (await intake.client.get("/v1/customers/c-anna")).status_code == 401


async def test_a_customer_without_orders_is_found_by_their_tickets(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        response = await post_contact(intake, customer_email="new@example.com", body="Do you ship to Malta?")
        ticket_id = response.json()["ticket_id"]
        ticket = await get_ticket(intake, ticket_id)
        assert (ticket["customer_value"], ticket["customer_detractor"]) == ({}, False)
        body = await customer(intake, "/v1/customers", email="new@example.com")
        assert (body["customer_ids"], body["orders_total"], body["value"]["order_count"]) == ([], 0, 0)
        assert body["value"]["clv"] == {}
        assert [t["id"] for t in body["tickets"]["recent"]] == [ticket_id]
        assert Decimal(body["value"]["lifetime_years"]) == Decimal(3)
