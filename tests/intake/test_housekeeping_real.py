"""Ticket housekeeping over the real Kafka and Postgres, on the test clock: solved tickets close after
the shop's time, a message on a closed ticket opens a new ticket linked to it, pending tickets get one
reminder (an automatic reply) and are later solved, each shop by its own settings; sweeps running at
once act on each ticket once."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from runtime.settings import Settings
from services.intake import sweeps
from services.intake.config import IntakeConfig
from tests.intake.helpers import Intake, fetchval, get_ticket, post_contact, running_intake, unique
from tests.intake.wismo_support import (
    context,
    housekeeping_settings,
    later,
    metric,
    replied,
    sweep,
    ticket_event,
)
from tests.support.shops import KEY_A, KEY_B, auth

HOUSEKEEPING = "careloop_intake_housekeeping_total"


async def open_ticket(intake: Intake, key: str = KEY_A, **fields: Any) -> str:
    body = {"customer_email": f"{unique('c')}@example.com", "subject": "A question", **fields}
    response = await post_contact(intake, key, **body)
    assert response.status_code == 201, response.text
    ticket_id: str = response.json()["ticket_id"]
    return ticket_id


async def set_status(intake: Intake, ticket_id: str, status: str, key: str = KEY_A) -> None:
    response = await intake.client.post(
        f"/v1/tickets/{ticket_id}/status", json={"status": status}, headers=auth(key)
    )
    assert response.status_code == 200, response.text


async def status_of(intake: Intake, ticket_id: str, key: str = KEY_A) -> str:
    status: str = (await get_ticket(intake, ticket_id, key))["status"]
    return status


async def test_solved_tickets_close_after_each_shops_time(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        await housekeeping_settings(intake, close_solved_after_days=2)  # shop B keeps the default 4
        closed_before = await metric(intake, HOUSEKEEPING, action="auto_close")
        a, b = await open_ticket(intake), await open_ticket(intake, KEY_B)
        await set_status(intake, a, "solved")
        await set_status(intake, b, "solved", KEY_B)

        later(intake, days=1)
        await sweep(intake)
        assert (await status_of(intake, a), await status_of(intake, b, KEY_B)) == ("solved", "solved")

        later(intake, days=1, minutes=1)
        await sweep(intake)
        assert (await status_of(intake, a), await status_of(intake, b, KEY_B)) == ("closed", "solved")
        closed = await ticket_event(intake, a, "ticket.closed")
        assert (closed.data.reason, closed.data.merged_into_ticket_id) == ("auto_close", None)

        later(intake, days=2)
        await sweep(intake)
        assert await status_of(intake, b, KEY_B) == "closed"
        assert await metric(intake, HOUSEKEEPING, action="auto_close") == closed_before + 2


async def test_a_message_on_a_closed_ticket_opens_a_new_one_linked_to_it(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        thread = unique("chat")
        who = f"{unique('c')}@example.com"
        old = await open_ticket(intake, channel="chat", thread_id=thread, customer_email=who)
        await set_status(intake, old, "solved")
        later(intake, days=4, minutes=1)
        await sweep(intake)
        assert await status_of(intake, old) == "closed"

        response = await post_contact(
            intake, channel="chat", thread_id=thread, customer_email=who, body="It broke again."
        )
        assert response.status_code == 201, response.text
        new = response.json()["ticket_id"]
        assert new != old
        assert (await get_ticket(intake, new))["continues_ticket_id"] == old
        created = await ticket_event(intake, new, "ticket.created")
        assert created.data.continues_ticket_id == old
        # the old one stays closed with its own conversation
        assert [m["body"] for m in (await get_ticket(intake, old))["messages"]] == [
            "Hello, I have a question."
        ]


async def test_a_pending_ticket_is_reminded_once_then_solved(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        await housekeeping_settings(intake, remind_pending_after_days=1, solve_pending_after_days=3)
        reminded_before = await metric(intake, HOUSEKEEPING, action="reminded")
        ticket_id = await open_ticket(intake, subject="Invoice", customer_locale="en")
        await set_status(intake, ticket_id, "pending")

        later(intake, hours=23)
        await sweep(intake)
        assert len((await get_ticket(intake, ticket_id))["messages"]) == 1

        later(intake, hours=2)
        await sweep(intake)
        await sweep(intake)  # reminded once, however often the sweep runs
        ticket = await get_ticket(intake, ticket_id)
        assert ticket["status"] == "pending"
        assert ticket["reminded_at"] is not None
        reminders = [m for m in ticket["messages"] if m["automatic"]]
        assert len(reminders) == 1
        assert "“Invoice”" in reminders[0]["body"]
        assert "we will consider the request solved on 2026-01-08" in reminders[0]["body"]
        [event] = await replied(intake, ticket_id)
        assert event.data.automatic is True
        assert await metric(intake, HOUSEKEEPING, action="reminded") == reminded_before + 1

        later(intake, days=2)
        await sweep(intake)
        assert await status_of(intake, ticket_id) == "solved"
        solved = await ticket_event(intake, ticket_id, "ticket.solved")
        assert solved.data.reason == "no_reply"


async def test_a_step_switched_off_is_skipped_and_an_answer_ends_the_wait(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        await housekeeping_settings(
            intake, remind_pending_after_days=None, solve_pending_after_days=2, close_solved_after_days=None
        )
        quiet, answered = await open_ticket(intake), await open_ticket(intake)
        await set_status(intake, quiet, "pending")
        await set_status(intake, answered, "pending")
        later(intake, days=1)
        email = (await get_ticket(intake, answered))["customer"]["email"]
        await post_contact(intake, customer_email=email, body="Here is the photo you asked for.")
        assert await status_of(intake, answered) == "open"

        later(intake, days=5)
        await sweep(intake)
        assert await status_of(intake, quiet) == "solved"  # not reminded, solved, never closed
        assert await status_of(intake, answered) == "open"
        assert await fetchval(intake, "SELECT count(*) FROM messages WHERE automatic") == 0


async def test_sweeps_running_at_once_act_on_each_ticket_once(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        await housekeeping_settings(intake, remind_pending_after_days=1, solve_pending_after_days=5)
        tickets = [await open_ticket(intake) for _ in range(12)]
        for ticket_id in tickets:
            await set_status(intake, ticket_id, "pending")
        later(intake, days=2)

        # four instances, each taking small batches, racing over the same due tickets
        ctx = replace(context(intake), config=IntakeConfig(housekeeping_batch=2))
        await asyncio.gather(*(sweeps.housekeeping(intake.app.runtime.db, ctx) for _ in range(4)))

        rows = await intake.app.runtime.db.pool.fetch(
            "SELECT ticket_id, count(*) AS n FROM messages WHERE automatic GROUP BY ticket_id"
        )
        assert {r["ticket_id"]: r["n"] for r in rows} == dict.fromkeys(tickets, 1)
