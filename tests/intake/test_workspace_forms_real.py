"""The workspace's forms over the real Kafka and Postgres, each going through the tickets API's own
paths: a reply is ticket.replied and reaches support.replies, a note never leaves CareLoop, both
audited as the agent's; status and merge with their refusals; take and assign (the queue holds the
agent's own tickets and the unassigned ones); tags and teams filtering the queue; a macro in the reply
box; the ticket's order and the customer's other orders, tickets and survey answers beside it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from runtime.settings import Settings
from schemas.registry import decode_event
from schemas.topics import REPLIES
from services.intake.domain.orders import Contents, OrderContext, OrderItem, OrderStatus, Shipment
from services.intake.repository.orders import save_order_contexts
from tests.intake.helpers import fetchval, post_contact, running_intake, ticket_events, types_of
from tests.intake.workspace_support import csrf_of, open_ticket, page_csrf, signed_in
from tests.support.kafka import read_topic
from tests.support.shops import KEY_A, KEY_B, SHOP_A, auth
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]


async def test_a_reply_goes_out_as_the_api_sends_it_and_a_note_never_leaves(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        ticket_id = await open_ticket(intake)
        async with signed_in(intake, name="Ola Nowak") as (client, agent):
            csrf = await page_csrf(client, f"/workspace/tickets/{ticket_id}")
            noted = await client.post(
                f"/workspace/tickets/{ticket_id}/note", data={"csrf": csrf, "body": "Check the <warehouse>"}
            )
            assert noted.status_code == 303
            assert noted.headers["location"] == f"/workspace/tickets/{ticket_id}?done=note"
            replied = await client.post(
                f"/workspace/tickets/{ticket_id}/reply", data={"csrf": csrf, "body": "It ships today."}
            )
            assert replied.status_code == 303
            page = await client.get(replied.headers["location"])
            assert "Odpowiedź jest w drodze do klienta." in page.text  # shop A speaks Polish
            assert "Check the &lt;warehouse&gt;" in page.text
            assert "It ships today." in page.text

        # the reply is a ticket.replied; the note (only a message_added, internal) never is
        events = await ticket_events(intake, ticket_id, at_least=5)
        assert "ticket.first_response" in types_of(events)
        replied_events = [e.data for e in events if e.type == "ticket.replied"]
        assert [(e.text, e.author_name) for e in replied_events] == [("It ships today.", "Ola Nowak")]
        sent = [decode_event(r.value) for r in await read_topic(intake.settings, REPLIES.name, at_least=1)]
        assert [e.data.text for e in sent] == ["It ships today."]  # the note is not there
        notes = await fetchval(
            intake,
            "SELECT count(*) FROM messages WHERE ticket_id = $1 AND internal AND author_name = $2",
            ticket_id,
            "Ola Nowak",
        )
        assert notes == 1

        async def audited() -> list[tuple[str, str, str | None]]:
            listed = await intake.client.get("/v1/audit", headers=auth(KEY_A))
            found = [
                (e["action"], e["actor_id"], e["agent"])
                for e in listed.json()["entries"]
                if e["target"] == f"ticket:{ticket_id}"
            ]
            return found if len(found) >= 2 else []

        # the audit log names the agent, as for their token through the API
        assert sorted(await eventually(audited, timeout=30)) == [
            ("ticket.note", agent["id"], "Ola Nowak"),
            ("ticket.reply", agent["id"], "Ola Nowak"),
        ]


async def test_status_merge_and_refusals_keep_the_agents_text(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        first = await open_ticket(intake)
        second = (
            await post_contact(
                intake, customer_email="bob@example.com", body="Other question", channel="chat"
            )
        ).json()["ticket_id"]
        async with signed_in(intake) as (client, _):
            csrf = await page_csrf(client, f"/workspace/tickets/{first}")
            empty = await client.post(f"/workspace/tickets/{first}/reply", data={"csrf": csrf, "body": ""})
            assert empty.status_code == 422
            assert 'aria-invalid="true"' in empty.text
            long = "x" * 20_001
            too_long = await client.post(
                f"/workspace/tickets/{first}/note", data={"csrf": csrf, "body": long}
            )
            assert too_long.status_code == 422
            assert long in too_long.text  # kept for the agent to shorten

            solved = await client.post(
                f"/workspace/tickets/{first}/status", data={"csrf": csrf, "status": "solved"}
            )
            assert solved.status_code == 303
            assert await fetchval(intake, "SELECT status FROM tickets WHERE id = $1", first) == "solved"
            refused = await client.post(
                f"/workspace/tickets/{first}/status", data={"csrf": csrf, "status": "pending"}
            )
            assert refused.status_code == 409
            unknown = await client.post(
                f"/workspace/tickets/{second}/merge", data={"csrf": csrf, "into": "tkt_none"}
            )
            assert unknown.status_code == 422
            assert 'value="tkt_none"' in unknown.text
            merged = await client.post(
                f"/workspace/tickets/{second}/merge", data={"csrf": csrf, "into": first}
            )
            assert merged.status_code == 303
            assert merged.headers["location"] == f"/workspace/tickets/{first}?done=merge"
            assert await fetchval(intake, "SELECT merged_into FROM tickets WHERE id = $1", second) == first

        async def merge_announced() -> bool:
            # the ticket's own two events were on the topic before the merge: wait for more
            return "ticket.merged" in types_of(await ticket_events(intake, second, at_least=3))

        await eventually(merge_announced, timeout=30)


async def test_the_queue_holds_my_tickets_and_the_unassigned_ones_and_a_ticket_can_be_taken(
    infra: Settings,
) -> None:
    async with running_intake(infra) as intake:
        free = await open_ticket(intake, body="Nobody's yet")
        theirs = await open_ticket(intake, body="Ewa's", email="bob@example.com")
        async with signed_in(intake, name="Ola") as (ola, me), signed_in(intake, name="Ewa") as (ewa, other):
            taken = await ewa.post(
                f"/workspace/tickets/{theirs}/take", data={"csrf": await page_csrf(ewa, "/workspace/")}
            )
            assert taken.status_code == 303
            assert taken.headers["location"] == f"/workspace/tickets/{theirs}?done=assign"
            queue = await ola.get("/workspace/")
            assert f"/workspace/tickets/{free}" in queue.text
            assert f"/workspace/tickets/{theirs}" not in queue.text  # a colleague's: not in my queue
            csrf = csrf_of(queue.text)
            mine = await ola.post(f"/workspace/tickets/{free}/take", data={"csrf": csrf})
            assert mine.status_code == 303
            assert (
                await fetchval(intake, "SELECT assignee_agent_id FROM tickets WHERE id = $1", free)
                == me["id"]
            )
            page = await ola.get(mine.headers["location"])
            assert "Zmieniono przypisanie." in page.text
            assert f"/workspace/tickets/{free}" in (await ola.get("/workspace/")).text  # mine now

            given = await ola.post(
                f"/workspace/tickets/{free}/assign", data={"csrf": csrf, "agent_id": other["id"]}
            )
            assert given.status_code == 303
            assert (
                await fetchval(intake, "SELECT assignee_agent_id FROM tickets WHERE id = $1", free)
                == other["id"]
            )
            assert f"/workspace/tickets/{free}" not in (await ola.get("/workspace/")).text
            nobody = await ola.post(
                f"/workspace/tickets/{free}/assign", data={"csrf": csrf, "agent_id": "agt_x"}
            )
            assert nobody.status_code == 409

        async def assignees() -> list[str]:
            events = await ticket_events(intake, free, at_least=1)
            found = [e.data.assignee_agent_id for e in events if e.type == "ticket.assigned"]
            return found if len(found) >= 2 else []

        assert await eventually(assignees, timeout=30) == [me["id"], other["id"]]


async def test_tags_are_added_and_removed_and_tags_and_teams_filter_the_queue(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        ticket_id = await open_ticket(intake)
        other = await open_ticket(intake, body="Another", email="bob@example.com")
        async with signed_in(intake) as (client, _):
            csrf = await page_csrf(client, f"/workspace/tickets/{ticket_id}")
            added = await client.post(
                f"/workspace/tickets/{ticket_id}/tags", data={"csrf": csrf, "add": " VIP "}
            )
            assert added.status_code == 303
            assert await fetchval(intake, "SELECT tags FROM tickets WHERE id = $1", ticket_id) == ["vip"]
            filtered = await client.get("/workspace/?tag=vip")
            assert f"/workspace/tickets/{ticket_id}" in filtered.text
            assert f"/workspace/tickets/{other}" not in filtered.text
            bad = await client.post(
                f"/workspace/tickets/{ticket_id}/tags", data={"csrf": csrf, "add": "no spaces"}
            )
            assert bad.status_code == 422
            removed = await client.post(
                f"/workspace/tickets/{ticket_id}/tags", data={"csrf": csrf, "remove": "vip"}
            )
            assert removed.status_code == 303
            assert await fetchval(intake, "SELECT tags FROM tickets WHERE id = $1", ticket_id) == []

            # a team's tickets (no automatic assignment: the ticket waits unassigned in its queue)
            team = await intake.client.post("/v1/teams", json={"name": "Zwroty"}, headers=auth(KEY_A))
            assert team.status_code == 201, team.text
            team_id = team.json()["id"]
            moved = await intake.client.post(
                f"/v1/tickets/{other}/assign", json={"team_id": team_id}, headers=auth(KEY_A)
            )
            assert moved.status_code == 200, moved.text
            by_team = await client.get(f"/workspace/?team={team_id}")
            assert 'id="filter-team"' in by_team.text
            assert f"/workspace/tickets/{other}" in by_team.text
            assert f"/workspace/tickets/{ticket_id}" not in by_team.text


async def test_a_macro_fills_the_reply_box_for_this_customer_and_goes_out_as_a_reply(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        response = await post_contact(
            intake, customer_email="anna@example.com", customer_name="Anna", body="Where is my parcel?"
        )
        ticket_id = response.json()["ticket_id"]
        macro = await intake.client.post(
            "/v1/macros",
            json={
                "name": "Hello",
                "texts": {"pl": "Dzień dobry {{ customer_name }}!", "en": "Hello {{ customer_name }}!"},
            },
            headers=auth(KEY_A),
        )
        assert macro.status_code == 201, macro.text
        macro_id = macro.json()["id"]
        async with signed_in(intake) as (client, _):
            page = await client.get(f"/workspace/tickets/{ticket_id}?macro={macro_id}")
            assert page.status_code == 200
            assert ">Dzień dobry Anna!</textarea>" in page.text  # the customer's language (the shop's)
            assert f'name="macro_id" value="{macro_id}"' in page.text
            unknown = await client.get(f"/workspace/tickets/{ticket_id}?macro=mac_none")
            assert "></textarea>" in unknown.text
            sent = await client.post(
                f"/workspace/tickets/{ticket_id}/reply",
                data={"csrf": csrf_of(page.text), "body": "Dzień dobry Anna!", "macro_id": macro_id},
            )
            assert sent.status_code == 303
        events = await ticket_events(intake, ticket_id, at_least=3)
        assert [e.data.text for e in events if e.type == "ticket.replied"] == ["Dzień dobry Anna!"]


async def test_the_ticket_shows_its_order_and_the_customers_other_orders_tickets_and_answers(
    infra: Settings,
) -> None:
    async with running_intake(infra) as intake:
        now = intake.clock.now()
        kettle = Contents(
            Decimal("199.98"), "PLN", (OrderItem("SKU-1", "Czajnik <Retro>", 2, Decimal("99.99")),)
        )
        shipped = OrderContext(
            OrderStatus.SHIPPED,
            now,
            "cust-1",
            "anna@example.com",
            "pl",
            promised_delivery_date=date(2026, 1, 7),
            shipment=Shipment("InPost", "TRK-77", "https://track.example/TRK-77"),
            delay_reason="burza",
            delayed_at=now,
            contents=kettle,
        )
        earlier = OrderContext(OrderStatus.DELIVERED, now, "cust-1", "anna@example.com", "pl")
        async with intake.app.runtime.db.transaction() as conn:
            await save_order_contexts(conn, [((SHOP_A, "o-77"), shipped), ((SHOP_A, "o-12"), earlier)])
        older = await open_ticket(intake, body="Old question", email="anna@example.com")
        closed = await intake.client.post(
            f"/v1/tickets/{older}/status", json={"status": "closed"}, headers=auth(KEY_A)
        )
        assert closed.status_code == 200, closed.text
        ticket_id = (
            await post_contact(
                intake, customer_email="anna@example.com", order_id="o-77", body="Where is it?"
            )
        ).json()["ticket_id"]
        assert ticket_id != older
        await intake.app.runtime.db.pool.execute(
            """INSERT INTO survey_answers (shop_id, survey_id, kind, score, at, detractor, order_id)
               VALUES ($1, 'srv-1', 'nps', 3, $2, true, 'o-12')""",
            SHOP_A,
            now,
        )
        theirs = await post_contact(intake, KEY_B, customer_email="anna@example.com", body="Same person at B")
        async with signed_in(intake) as (client, _):
            page = (await client.get(f"/workspace/tickets/{ticket_id}")).text
        assert (
            '<a href="https://track.example/TRK-77" rel="noreferrer noopener" target="_blank">TRK-77</a>'
            in page
        )
        assert "Czajnik &lt;Retro&gt;" in page
        assert "199.98 PLN" in page
        assert "2026-01-07" in page
        assert "burza" in page
        assert "<code>o-12</code>" in page  # the customer's other order
        assert f'href="/workspace/tickets/{older}"' in page  # the customer's other ticket
        assert "NPS 3" in page
        assert theirs.json()["ticket_id"] not in page  # the same e-mail at another shop is not this customer
