"""Each ticket's SLA state at intake, from the SLA service's own events (real Kafka and Postgres, both
services in this process, the SLA timers on a test clock): the clocks with their deadlines, the
breach and escalation, the queue by deadline, shops kept apart, replays without effect."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from runtime.clock import ManualClock
from runtime.kafka import DLQ_REASON
from runtime.settings import Settings
from schemas import topics
from schemas.registry import make_event
from services.intake.repository import tickets
from tests.intake.helpers import (
    Intake,
    fetchval,
    get_ticket,
    metric_value,
    post_contact,
    running_intake,
    unique,
)
from tests.sla.support import T0, running_sla, sla_events
from tests.support.kafka import produce, read_topic
from tests.support.shops import KEY_A, KEY_B, SHOP_A, SHOP_B, auth
from tests.support.wait import eventually

pytestmark = pytest.mark.kafka
MIN = timedelta(minutes=1)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


async def open_ticket(intake: Intake, channel: str, key: str = KEY_A) -> str:
    email = f"{unique(channel)}@example.com"  # another customer each: no contact joins another's ticket
    response = await post_contact(intake, key, channel=channel, customer_email=email)
    assert response.status_code == 201, response.text
    return str(response.json()["ticket_id"])


async def listed(intake: Intake, key: str = KEY_A, **params: Any) -> list[str]:
    response = await intake.client.get("/v1/tickets", params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["tickets"]]


def clock(ticket: dict[str, Any], metric: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in ticket["sla"]["clocks"] if c["metric"] == metric]
    assert len(found) == 1, ticket["sla"]
    return found[0]


async def test_the_ticket_api_shows_each_tickets_clocks_and_lists_them_by_deadline(infra: Settings) -> None:
    sla_clock = ManualClock(T0)
    async with running_intake(infra) as intake, running_sla(infra, sla_clock):
        c = intake.clock
        c.set(T0)
        first = await open_ticket(intake, "chat")  # first response due at T0 + 5 min
        theirs = await open_ticket(intake, "chat", KEY_B)  # shop B's, due at the same instant
        c.set(T0 + MIN)
        second = await open_ticket(intake, "chat")  # due at T0 + 6 min
        c.set(T0 + 2 * MIN)
        mailed = await open_ticket(intake, "email")  # e-mail: an hour
        c.set(T0 + 3 * MIN)
        waiting = await open_ticket(intake, "phone")
        c.set(T0 + 4 * MIN)
        solved = await open_ticket(intake, "web_form")
        for ticket_id, status in ((waiting, "pending"), (solved, "solved")):
            answer = await intake.client.post(
                f"/v1/tickets/{ticket_id}/status", json={"status": status}, headers=auth(KEY_A)
            )
            assert answer.status_code == 200, answer.text

        by_due = [first, second, mailed, waiting]

        async def queued_by_deadline() -> bool:
            paused = (await get_ticket(intake, waiting))["sla"]["clocks"]
            return bool(paused) and await listed(intake, sort="due") == by_due

        await eventually(queued_by_deadline, timeout=60)
        assert await listed(intake) == [solved, waiting, mailed, second, first]  # the default: newest first
        assert await listed(intake, sort="due", limit=2) == [first, second]
        assert await listed(intake, sort="due", limit=2, offset=2) == [mailed, waiting]
        assert await listed(intake, sort="due", status="pending") == [waiting]
        assert await listed(intake, KEY_B, sort="due") == [theirs]

        shown = await get_ticket(intake, first)
        response = clock(shown, "first_response")
        assert (response["status"], response["due_at"], response["target_seconds"]) == (
            "running",
            iso(T0 + 5 * MIN),
            300,
        )
        assert (response["warned_at"], response["breached_at"], response["escalation_level"]) == (
            None,
            None,
            0,
        )
        assert clock(shown, "resolution")["status"] == "running"
        assert shown["sla"]["next_due_at"] == iso(T0 + 5 * MIN)
        assert {c["status"] for c in (await get_ticket(intake, waiting))["sla"]["clocks"]} == {"paused"}
        assert {c["due_at"] for c in (await get_ticket(intake, waiting))["sla"]["clocks"]} == {None}
        page = await intake.client.get("/v1/tickets", params={"sort": "due", "limit": 1}, headers=auth(KEY_A))
        assert page.json()["tickets"][0]["sla"] == shown["sla"]  # a list item shows the same state

        # the first ticket is warned at 4 minutes, breached and escalated to the team lead at 5
        sla_clock.set(T0 + 5 * MIN)

        async def escalated() -> dict[str, Any]:
            ticket = await get_ticket(intake, first)
            return ticket if ticket["sla"]["escalation_level"] == 1 and ticket["breached"] else {}

        shown = await eventually(escalated, timeout=60)
        response = clock(shown, "first_response")
        assert (response["warned_at"], response["breached_at"]) == (iso(T0 + 5 * MIN), iso(T0 + 5 * MIN))
        assert (response["escalation_level"], response["escalate_to"]) == (1, "team_lead")
        assert (shown["sla"]["escalation_level"], shown["sla"]["escalate_to"]) == (1, "team_lead")
        assert shown["breached_metrics"] == ["first_response"]
        assert await listed(intake, sort="due") == by_due  # the most overdue stays first

        # answered late: the first-response clock stops breached; the resolution deadline is next
        reply = await intake.client.post(
            f"/v1/tickets/{first}/replies", json={"body": "Sorry for the wait."}, headers=auth(KEY_A)
        )
        assert reply.status_code == 201, reply.text

        async def answered() -> dict[str, Any]:
            ticket = await get_ticket(intake, first)
            return ticket if clock(ticket, "first_response")["status"] == "stopped" else {}

        shown = await eventually(answered, timeout=60)
        response = clock(shown, "first_response")
        assert (response["due_at"], response["breached_at"], response["met_at"]) == (
            None,
            iso(T0 + 5 * MIN),
            None,
        )
        assert shown["sla"]["next_due_at"] == clock(shown, "resolution")["due_at"]
        assert (await listed(intake, sort="due"))[0] == second


async def test_replayed_sla_events_change_nothing(infra: Settings) -> None:
    sla_clock = ManualClock(T0)
    async with running_intake(infra) as intake, running_sla(infra, sla_clock) as sla:
        intake.clock.set(T0)
        ticket_id = await open_ticket(intake, "chat")
        sla_clock.set(T0 + 10 * MIN)  # warned, breached, escalated twice

        async def settled() -> bool:
            return bool((await get_ticket(intake, ticket_id))["sla"]["escalation_level"] == 2)

        await eventually(settled, timeout=60)
        sent = await sla_events(infra, sla, ticket_id, clock_changes=True)
        before = await state(intake, ticket_id)
        duplicates = await replayed(intake)
        for event in sent:
            await produce(infra, topics.SLA.name, event)

        async def all_dropped() -> bool:
            return bool(await replayed(intake) - duplicates == len(sent))

        await eventually(all_dropped, timeout=60)
        assert await state(intake, ticket_id) == before

        # another shop's event about this ticket is refused whole, and changes nothing either
        change = next(e for e in sent if e.type == "sla.clock_changed")
        stranger = make_event(
            "sla.clock_changed", "careloop/sla", change.data.model_copy(update={"shop_id": SHOP_B}), ticket_id
        )
        await produce(infra, topics.SLA.name, stranger)
        dlq = await read_topic(infra, topics.SLA.dlq, at_least=1)
        reasons = [dict(r.headers)[DLQ_REASON].decode() for r in dlq]
        assert reasons == [f"unprocessable: unknown ticket {ticket_id!r} of shop {SHOP_B!r}"]
        assert await state(intake, ticket_id) == before
        assert {e.type for e in sent} >= {"sla.clock_changed", "sla.warning", "sla.breached", "sla.escalated"}


async def state(intake: Intake, ticket_id: str) -> tuple[Any, ...]:
    rows = await intake.app.runtime.db.pool.fetch(
        "SELECT * FROM ticket_sla_clocks WHERE ticket_id = $1 ORDER BY clock_id", ticket_id
    )
    due = await fetchval(intake, "SELECT sla_due_at FROM tickets WHERE id = $1", ticket_id)
    return ([dict(r) for r in rows], due, await get_ticket(intake, ticket_id))


async def replayed(intake: Intake) -> float:
    text = (await intake.client.get("/metrics")).text
    return metric_value(text, "careloop_events_consumed_total", consumer="intake-sla", outcome="duplicate")


def plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes += plan_nodes(child)
    return nodes


async def test_the_queue_by_deadline_is_read_in_index_order(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        for _ in range(3):
            await open_ticket(intake, "chat")
        query = tickets.listing_query("due")
        parameters = tickets.listing_parameters(SHOP_A, tickets.TicketFilter(), 51, 0)
        async with intake.app.runtime.db.transaction() as conn:
            # No full scans: the planner must read the rows in the listing's order from an index,
            # and a plan that needs a Sort on top shows that no index gives that order.
            await conn.execute("SET LOCAL enable_seqscan = off")
            await conn.execute("SET LOCAL enable_bitmapscan = off")
            [explained] = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {query}", *parameters)
            rows = await conn.fetch(query, *parameters)
    nodes = plan_nodes(explained["Plan"])
    assert "Sort" not in {n["Node Type"] for n in nodes}
    assert "tickets_by_due" in {n.get("Index Name") for n in nodes}
    assert len(rows) == 3
