"""Agents work on tickets: replies, notes, status changes, solve/reopen (FCR), close, merge; and a
shop's key never reaches another shop's tickets."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runtime.settings import Settings
from tests.intake.helpers import (
    fetchval,
    get_ticket,
    post_contact,
    running_intake,
    ticket_events,
    types_of,
)
from tests.support.shops import KEY_A, KEY_B, auth

pytestmark = pytest.mark.kafka


async def test_a_tickets_life_from_first_message_to_closed_and_the_events_it_emits(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        c, a = intake.client, auth(KEY_A)
        anna = {"customer_email": "anna@example.com", "order_id": "o-1"}
        t = (await post_contact(intake, body="My order?", **anna)).json()["ticket_id"]
        intake.clock.advance(timedelta(minutes=10))
        note = await c.post(f"/v1/tickets/{t}/notes", json={"body": "Checking with the warehouse"}, headers=a)
        assert note.status_code == 201
        intake.clock.advance(timedelta(minutes=20))
        reply = await c.post(
            f"/v1/tickets/{t}/replies", json={"body": "It ships today.", "author_name": "Ola"}, headers=a
        )
        assert reply.status_code == 201, reply.text
        pending = await c.post(f"/v1/tickets/{t}/status", json={"status": "pending"}, headers=a)
        assert pending.json()["status"] == "pending"
        intake.clock.advance(timedelta(hours=1))
        await post_contact(intake, body="Thanks, got the tracking link.", **anna)  # wakes the ticket
        assert (await get_ticket(intake, t))["status"] == "open"
        solved = await c.post(f"/v1/tickets/{t}/status", json={"status": "solved"}, headers=a)
        body = solved.json()
        assert (body["status"], body["first_contact_resolution"], body["agent_replies"]) == (
            "solved",
            True,
            1,
        )

        intake.clock.advance(timedelta(hours=2))
        back = await post_contact(intake, body="Actually it did not arrive.", **anna)
        assert (back.json()["outcome"], back.json()["ticket_id"]) == ("reopened", t)
        again = await get_ticket(intake, t)
        assert (again["status"], again["reopen_count"], again["first_contact_resolution"]) == (
            "open",
            1,
            None,
        )
        await c.post(f"/v1/tickets/{t}/replies", json={"body": "Sending a new one."}, headers=a)
        resolved = (await c.post(f"/v1/tickets/{t}/status", json={"status": "solved"}, headers=a)).json()
        assert resolved["first_contact_resolution"] is False
        closed = (await c.post(f"/v1/tickets/{t}/status", json={"status": "closed"}, headers=a)).json()
        assert closed["status"] == "closed"

        # a closed ticket is final
        refused = await c.post(f"/v1/tickets/{t}/status", json={"status": "open"}, headers=a)
        assert (refused.status_code, refused.json()["error"]) == (409, "invalid_transition")
        assert refused.json()["detail"] == "a closed ticket cannot become open"
        assert (await c.post(f"/v1/tickets/{t}/replies", json={"body": "x"}, headers=a)).status_code == 409
        assert (await c.post(f"/v1/tickets/{t}/reopen", headers=a)).status_code == 409
        fresh = await post_contact(intake, body="One more thing", **anna)
        assert fresh.json()["outcome"] == "created"
        assert fresh.json()["ticket_id"] != t

        events = await ticket_events(intake, t, at_least=20)
        # each public reply is announced right after its own events (issue #14); the lifecycle around
        # them is as it was
        assert [i for i, e in enumerate(events) if e.type == "ticket.replied"] == [5, 15]
        events = [e for e in events if e.type != "ticket.replied"]
        assert types_of(events) == [
            "ticket.created",
            "ticket.message_added",  # customer
            "ticket.message_added",  # internal note
            "ticket.message_added",  # agent reply
            "ticket.first_response",
            "ticket.status_changed",  # open -> pending
            "ticket.status_changed",  # pending -> open (customer answered)
            "ticket.message_added",
            "ticket.status_changed",  # -> solved
            "ticket.solved",
            "ticket.status_changed",  # solved -> open
            "ticket.reopened",
            "ticket.message_added",
            "ticket.message_added",  # second agent reply
            "ticket.status_changed",  # -> solved
            "ticket.solved",
            "ticket.status_changed",  # -> closed
            "ticket.closed",
        ]
        data = [e.data for e in events]
        assert [(d.author.value, d.internal) for d in data if hasattr(d, "author")] == [
            ("customer", False),
            ("agent", True),
            ("agent", False),
            ("customer", False),
            ("customer", False),
            ("agent", False),
        ]
        assert data[4].first_response_seconds == 30 * 60
        assert (data[5].previous_status.value, data[5].status.value) == ("open", "pending")
        assert data[9].first_contact_resolution is True
        assert data[15].first_contact_resolution is False
        assert all(d.customer_email == "anna@example.com" and d.order_id == "o-1" for d in data)

        detail = await get_ticket(intake, t)
        assert [m["author"] for m in detail["messages"]] == [
            "customer",
            "agent",
            "agent",
            "customer",
            "customer",
            "agent",
        ]
        assert [m["internal"] for m in detail["messages"]][:3] == [False, True, False]
        assert detail["messages"][2]["author_name"] == "Ola"


async def test_agents_reopen_a_solved_ticket_and_same_status_is_a_no_op(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        c, a = intake.client, auth(KEY_A)
        t = (await post_contact(intake, customer_email="z@example.com")).json()["ticket_id"]
        assert (await c.post(f"/v1/tickets/{t}/reopen", headers=a)).status_code == 409  # not solved
        await c.post(f"/v1/tickets/{t}/status", json={"status": "on_hold"}, headers=a)
        await c.post(f"/v1/tickets/{t}/status", json={"status": "on_hold"}, headers=a)
        await post_contact(intake, customer_email="z@example.com", body="any news?")
        assert (await get_ticket(intake, t))["status"] == "on_hold"  # waits on a third party still
        await c.post(f"/v1/tickets/{t}/status", json={"status": "solved"}, headers=a)
        reopened = await c.post(f"/v1/tickets/{t}/reopen", headers=a)
        assert (reopened.json()["status"], reopened.json()["reopen_count"]) == ("open", 1)
        events = types_of(await ticket_events(intake, t, at_least=8))
        assert events == [
            "ticket.created",
            "ticket.message_added",
            "ticket.status_changed",
            "ticket.message_added",
            "ticket.status_changed",
            "ticket.solved",
            "ticket.status_changed",
            "ticket.reopened",
        ]


async def test_merging_moves_the_conversation_and_closes_the_merged_ticket(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        c, a = intake.client, auth(KEY_A)
        keep = (
            await post_contact(intake, customer_email="m@example.com", order_id="o-1", body="first")
        ).json()
        intake.clock.advance(timedelta(minutes=5))
        dup = (
            await post_contact(
                intake, customer_email="m@example.com", channel="chat", thread_id="s-9", body="second"
            )
        ).json()
        assert dup["ticket_id"] != keep["ticket_id"]
        merged = await c.post(
            f"/v1/tickets/{dup['ticket_id']}/merge", json={"into_ticket_id": keep["ticket_id"]}, headers=a
        )
        assert merged.status_code == 200, merged.text
        body = merged.json()
        assert body["id"] == keep["ticket_id"]
        assert [(m["body"], m["merged_from"]) for m in body["messages"]] == [
            ("first", None),
            ("second", dup["ticket_id"]),
            (f"Ticket {dup['ticket_id']} was merged into this ticket.", None),
        ]
        gone = await get_ticket(intake, dup["ticket_id"])
        assert (gone["status"], gone["merged_into"], gone["messages"]) == ("closed", keep["ticket_id"], [])
        # the chat session now continues the surviving ticket
        follow = await post_contact(
            intake, customer_email="m@example.com", channel="chat", thread_id="s-9", body="third"
        )
        assert follow.json()["ticket_id"] == keep["ticket_id"]

        assert (
            await c.post(
                f"/v1/tickets/{keep['ticket_id']}/merge",
                json={"into_ticket_id": keep["ticket_id"]},
                headers=a,
            )
        ).status_code == 409
        into_closed = await c.post(
            f"/v1/tickets/{keep['ticket_id']}/merge", json={"into_ticket_id": dup["ticket_id"]}, headers=a
        )
        assert into_closed.status_code == 409
        assert "closed" in into_closed.json()["detail"]

        events = await ticket_events(intake, dup["ticket_id"], at_least=5)
        assert types_of(events)[-3:] == ["ticket.merged", "ticket.status_changed", "ticket.closed"]
        assert events[-3].data.merged_into_ticket_id == keep["ticket_id"]
        assert events[-1].data.merged_into_ticket_id == keep["ticket_id"]
        kept = await ticket_events(intake, keep["ticket_id"], at_least=4)
        system_notes = [
            e.data for e in kept if e.type == "ticket.message_added" and e.data.author == "system"
        ]
        assert len(system_notes) == 1
        assert system_notes[0].internal is True


async def test_a_shops_key_never_reaches_another_shops_tickets(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        c = intake.client
        a_ticket = (await post_contact(intake, customer_email="same@example.com", order_id="o-1")).json()[
            "ticket_id"
        ]
        b_ticket = (
            await post_contact(intake, KEY_B, customer_email="same@example.com", order_id="o-1")
        ).json()["ticket_id"]
        assert a_ticket != b_ticket  # the same customer and order in two shops are two conversations
        b = auth(KEY_B)
        attempts = [
            await c.get(f"/v1/tickets/{a_ticket}", headers=b),
            await c.post(f"/v1/tickets/{a_ticket}/replies", json={"body": "hi"}, headers=b),
            await c.post(f"/v1/tickets/{a_ticket}/notes", json={"body": "hi"}, headers=b),
            await c.post(f"/v1/tickets/{a_ticket}/status", json={"status": "solved"}, headers=b),
            await c.post(f"/v1/tickets/{a_ticket}/reopen", headers=b),
            await c.post(f"/v1/tickets/{a_ticket}/merge", json={"into_ticket_id": b_ticket}, headers=b),
            await c.post(f"/v1/tickets/{b_ticket}/merge", json={"into_ticket_id": a_ticket}, headers=b),
        ]
        assert [r.status_code for r in attempts] == [404] * len(attempts)
        assert {r.json()["error"] for r in attempts} == {"not_found"}
        unknown = await c.get("/v1/tickets/tkt_does_not_exist", headers=b)
        assert unknown.json()["detail"].replace("tkt_does_not_exist", "X") == attempts[0].json()[
            "detail"
        ].replace(a_ticket, "X")

        listed = (await c.get("/v1/tickets", params={"customer": "same@example.com"}, headers=b)).json()
        assert [t["id"] for t in listed["tickets"]] == [b_ticket]
        untouched = await get_ticket(intake, a_ticket)
        assert (untouched["status"], len(untouched["messages"])) == ("open", 1)
        assert await fetchval(intake, "SELECT count(*) FROM messages WHERE ticket_id = $1", b_ticket) == 1


async def test_listing_filters_and_pages(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        c, a = intake.client, auth(KEY_A)
        ids = []
        for i, channel in enumerate(("email", "chat", "phone")):
            intake.clock.advance(timedelta(minutes=1))
            r = await post_contact(
                intake,
                channel=channel,
                customer_email=f"l{i}@example.com",
                order_id=f"o-{i}",
                body="my parcel is broken" if i == 2 else "hello",
            )
            ids.append(r.json()["ticket_id"])
        await c.post(f"/v1/tickets/{ids[0]}/status", json={"status": "pending"}, headers=a)

        async def listing(**params: str) -> list[str]:
            r = await c.get("/v1/tickets", params=params, headers=a)
            assert r.status_code == 200, r.text
            return [t["id"] for t in r.json()["tickets"]]

        assert await listing() == ids[::-1]
        assert await listing(status="pending") == [ids[0]]
        assert await listing(channel="chat") == [ids[1]]
        assert await listing(category="complaint_repair") == [ids[2]]
        assert await listing(priority="high") == [ids[2]]  # phone raises normal to high
        assert await listing(order_id="o-1") == [ids[1]]
        assert await listing(customer="L0@example.com") == [ids[0]]
        assert await listing(breached="false") == ids[::-1]
        page = (await c.get("/v1/tickets", params={"limit": 2}, headers=a)).json()
        assert (len(page["tickets"]), page["next_offset"]) == (2, 2)
        rest = (await c.get("/v1/tickets", params={"limit": 2, "offset": 2}, headers=a)).json()
        assert ([t["id"] for t in rest["tickets"]], rest["next_offset"]) == ([ids[0]], None)
