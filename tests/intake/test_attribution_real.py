"""Replies and notes written with an agent's token are the agent's, and a reply can be a macro, over
the real Kafka and Postgres."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from runtime.settings import Settings
from schemas.registry import decode_event
from schemas.topics import REPLIES
from tests.intake.helpers import fetchval, running_intake, ticket_events
from tests.intake.people import create_agent, open_ticket, post, ticket
from tests.intake.test_macros_tags_real import MACRO
from tests.intake.wismo_support import TRACKING_URL, customer, ship
from tests.support.kafka import read_topic
from tests.support.shops import KEY_A, KEY_B

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]


def of_type(events: list[Any], event_type: str) -> list[dict[str, Any]]:
    return [e.data.model_dump(mode="json") for e in events if e.type == event_type]


async def test_an_agents_reply_and_note_are_theirs(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        ola = await create_agent(intake, name="Ola Nowak")
        t = await open_ticket(intake, channel="chat", customer_handle="anna-chat")
        replied = await post(intake, f"/v1/tickets/{t}/replies", ola["token"], {"body": "Already on it."})
        assert replied.status_code == 201, replied.text
        noted = await post(intake, f"/v1/tickets/{t}/notes", ola["token"], {"body": "Courier called."})
        assert noted.status_code == 201, noted.text
        signed = await post(
            intake, f"/v1/tickets/{t}/replies", ola["token"], {"body": "x", "author_name": "Ola"}
        )
        by_key = await post(
            intake, f"/v1/tickets/{t}/replies", KEY_A, {"body": "The shop.", "author_name": "Shop"}
        )

        messages = {m["id"]: m for m in (await ticket(intake, t))["messages"]}
        reply, note = messages[replied.json()["message_id"]], messages[noted.json()["message_id"]]
        assert (reply["author"], reply["author_agent_id"], reply["author_name"]) == (
            "agent",
            ola["id"],
            "Ola Nowak",
        )
        assert (note["internal"], note["author_agent_id"], note["author_name"]) == (
            True,
            ola["id"],
            "Ola Nowak",
        )
        assert messages[signed.json()["message_id"]]["author_name"] == "Ola"  # a name given wins
        shop = messages[by_key.json()["message_id"]]
        assert (shop["author_agent_id"], shop["author_name"]) == (None, "Shop")  # as before agents

        assert (
            await fetchval(intake, "SELECT first_response_agent_id FROM tickets WHERE id = $1", t)
            == ola["id"]
        )
        events = await ticket_events(intake, t, 10)
        (first,) = of_type(events, "ticket.first_response")
        assert first["author_agent_id"] == ola["id"]
        replies = of_type(events, "ticket.replied")
        assert [r["author_agent_id"] for r in replies] == [ola["id"], ola["id"], None]
        added = [
            m
            for m in of_type(events, "ticket.message_added")
            if m["message_id"] == noted.json()["message_id"]
        ]
        assert added[0]["author_agent_id"] == ola["id"]


async def test_a_reply_from_a_macro_goes_out_rendered(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        macro_id = (await post(intake, "/v1/macros", body=MACRO)).json()["id"]
        ola = await create_agent(intake, name="Ola")
        await ship(intake, "A-2001", who=customer("ewa@example.com", "pl-PL"), promised=date(2026, 1, 9))
        t = await open_ticket(
            intake, customer_email="ewa@example.com", order_id="A-2001", customer_name="Ewa"
        )
        sent = await post(intake, f"/v1/tickets/{t}/replies", ola["token"], {"macro_id": macro_id})
        assert sent.status_code == 201, sent.text
        expected = f"Dzień dobry Ewa, zamówienie A-2001 jest wysłane: {TRACKING_URL}. Termin: 09.01.2026. Ola"
        messages = {m["id"]: m for m in (await ticket(intake, t))["messages"]}
        assert messages[sent.json()["message_id"]]["body"] == expected
        (replied,) = of_type(await ticket_events(intake, t, 5), "ticket.replied")
        assert (replied["text"], replied["author_agent_id"]) == (expected, ola["id"])
        outbound = [
            decode_event(r.value) for r in await read_topic(intake.settings, REPLIES.name, at_least=1)
        ]
        assert [o.data.text for o in outbound if o.data.ticket_id == t] == [expected]

        for body, status in (
            ({"macro_id": macro_id, "body": "both"}, 422),
            ({}, 422),
            ({"macro_id": "mac_nope"}, 404),
        ):
            refused = await post(intake, f"/v1/tickets/{t}/replies", ola["token"], body)
            assert refused.status_code == status, (body, refused.text)
        theirs = (await post(intake, "/v1/macros", KEY_B, {"name": "B", "texts": {"en": "shop B"}})).json()[
            "id"
        ]
        other_shops = await post(intake, f"/v1/tickets/{t}/replies", ola["token"], {"macro_id": theirs})
        assert other_shops.status_code == 404
        assert len((await ticket(intake, t))["messages"]) == 2  # nothing more was written
