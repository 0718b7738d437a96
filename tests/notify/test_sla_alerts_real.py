"""Escalations reach the people who act on them: the SLA service's warnings, breaches, escalations and
broken order promises, fired by its own timer sweep on a test clock, arrive at the shop's endpoint as
signed webhooks with a ready-to-send message (real Kafka, Postgres and HTTP receiver)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from runtime.clock import ManualClock
from runtime.settings import Settings
from schemas import topics
from schemas.v1.orders import OrderPaid
from tests.notify.harness import api, config, create_endpoint, customer, running_notify
from tests.notify.receiver import Receiver
from tests.sla.support import T0, event, running_sla, send, ticket_event, wait_clocks
from tests.support.shops import KEY_A, KEY_B, SHOP_A, auth
from tests.support.wait import eventually

pytestmark = pytest.mark.kafka
MIN = timedelta(minutes=1)


def verified(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    """Every body the receiver got, each checked against the endpoint's signing secret."""
    return [Webhook(secret).verify(r.body, r.headers) for r in receiver.requests]


async def test_sla_alerts_and_a_broken_promise_arrive_signed_with_their_message(infra: Settings) -> None:
    clock = ManualClock(T0)
    mine, other = await Receiver().start(), await Receiver().start()
    try:
        async with (
            running_sla(infra, clock) as sla,
            running_notify(infra, config()) as notify,
            api(notify) as client,
        ):
            endpoint = await create_endpoint(
                client, mine.url(), event_types=["sla.*", "order.promise_breached"]
            )
            await create_endpoint(client, other.url(), key=KEY_B)  # shop B: everything of its own
            await send(infra, topics.TICKETS, ticket_event("ticket.created", "t-esc", T0, priority="high"))
            paid = OrderPaid(
                shop_id=SHOP_A,
                order_id="PL-77",
                customer=customer("en-GB"),
                amount=Decimal("10.00"),
                currency="PLN",
                ship_by=T0 + 30 * MIN,
            )
            await send(infra, topics.ORDERS, event("order.paid", paid, "PL-77", T0))
            await wait_clocks(sla, "t-esc", 2)

            async def received(count: int) -> bool:
                return len(mine.requests) >= count

            # chat, first response in 5 minutes: warned at 4, breached and escalated to the team
            # lead at 5, to the manager at 10; the order should have shipped by 30
            for minutes, count in ((4, 1), (5, 3), (10, 4), (31, 5)):
                clock.set(T0 + minutes * MIN)
                await eventually(lambda n=count: received(n), timeout=60)  # type: ignore[misc]

        bodies = verified(mine, endpoint["secret"])
    finally:
        await mine.stop()
        await other.stop()

    assert [b["type"] for b in bodies] == [
        "sla.warning",
        "sla.breached",
        "sla.escalated",
        "sla.escalated",
        "order.promise_breached",
    ]
    alerts = [b["data"] for b in bodies[:4]]
    assert all(a["customer_message"] is None and a["ticket_id"] == "t-esc" for a in alerts)
    assert [a["staff_message"]["subject"] for a in alerts] == [
        "Zgłoszenie t-esc: termin pierwszej odpowiedzi o 10:05 (za 1 min)",
        "Zgłoszenie t-esc: przekroczony termin pierwszej odpowiedzi",
        "Zgłoszenie t-esc eskalowane do team_lead (poziom 1)",
        "Zgłoszenie t-esc eskalowane do manager (poziom 2)",
    ]
    assert alerts[0]["staff_message"]["text"] == (
        "Zgłoszenie t-esc (priorytet wysoki, kanał chat) przekroczy termin pierwszej odpowiedzi o 10:05 "
        "(za 1 min)."
    )
    assert alerts[3]["staff_message"]["text"].endswith("minął o 10:05, 5 min temu.")
    assert [(a["level"], a["escalate_to"]) for a in alerts[2:]] == [(1, "team_lead"), (2, "manager")]
    assert {a["staff_message"]["locale"] for a in alerts} == {"pl"}  # the shop's language
    assert {a["staff_message"]["template"] for a in alerts} == {"default"}

    promise = bodies[4]["data"]
    assert promise["staff_message"] is None
    assert promise["customer_message"]["locale"] == "en"  # the customer's language
    assert promise["customer_message"]["subject"] == "Sorry, order PL-77 is running late"
    assert other.requests == [], "shop B was sent another shop's alerts"


async def test_alerts_are_templates_a_shop_lists_and_overrides_like_any_message(infra: Settings) -> None:
    async with running_notify(infra, config()) as notify, api(notify) as client:
        listed = (await client.get("/v1/templates", headers=auth(KEY_A))).json()
        audiences = {(t["event_type"], t["language"]): t["audience"] for t in listed}
        assert audiences[("sla.escalated", "pl")] == "staff"
        assert audiences[("order.shipped", "en")] == "customer"
        assert {e for e, _ in audiences} >= {"sla.warning", "sla.breached", "sla.escalated"}
        own = {"subject": "Eskalacja {{ ticket_id }}", "text": "Do: {{ escalate_to }}, {{ deadline_local }}"}
        put = await client.put("/v1/templates/sla.escalated/pl", json=own, headers=auth(KEY_A))
        assert put.status_code == 200, put.text
        assert put.json()["audience"] == "staff"
        listed = (await client.get("/v1/templates", headers=auth(KEY_A))).json()
        [mine] = [t for t in listed if (t["event_type"], t["language"]) == ("sla.escalated", "pl")]
        assert (mine["source"], mine["subject"]) == ("shop", own["subject"])
        others = (await client.get("/v1/templates", headers=auth(KEY_B))).json()
        [theirs] = [t for t in others if (t["event_type"], t["language"]) == ("sla.escalated", "pl")]
        assert theirs["source"] == "default"
