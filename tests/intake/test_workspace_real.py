"""The workspace's routes over the real Kafka and Postgres (no browser: tests/intake/
test_workspace_browser.py drives Chromium): sign-in and its cookie, sessions kept as hashes and ended
by sign-out, deactivation or expiry, CSRF on every form, one shop never seeing another's tickets, and
each form going through the tickets API's own paths (a reply is ticket.replied and reaches
support.replies; a note never leaves CareLoop)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest

from runtime.settings import Settings
from schemas.registry import decode_event
from schemas.topics import REPLIES
from services.intake.domain.orders import Contents, OrderContext, OrderItem, OrderStatus, Shipment
from services.intake.repository.orders import save_order_contexts
from tests.intake.helpers import Intake, fetchval, post_contact, running_intake, ticket_events, types_of
from tests.intake.workspace_support import browser, create_agent, csrf_of, sign_in
from tests.support.kafka import read_topic
from tests.support.shops import KEY_A, KEY_B, SHOP_A, auth
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]


def cookie_attributes(response: httpx.Response, name: str) -> dict[str, str | bool]:
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        if name in jar:
            morsel = jar[name]
            return {key: morsel[key] for key in ("httponly", "samesite", "path", "secure", "max-age")}
    raise AssertionError(f"no {name} cookie set")


@asynccontextmanager
async def signed_in(
    intake: Intake, key: str = KEY_A, **agent: str
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    """A new agent of the key's shop, signed in on a browser of their own."""
    created = await create_agent(intake, key, **agent)
    async with browser(intake) as client:
        response = await sign_in(client, created["token"])
        assert response.status_code == 303, response.text
        yield client, created


async def open_ticket(
    intake: Intake, key: str = KEY_A, body: str = "Where is my parcel?", email: str = "anna@example.com"
) -> str:
    response = await post_contact(intake, key, customer_email=email, body=body)
    assert response.status_code == 201, response.text
    ticket_id: str = response.json()["ticket_id"]
    return ticket_id


async def page_csrf(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


async def test_sign_in_sets_a_hardened_cookie_and_keeps_only_the_hash_of_the_session(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        created = await create_agent(intake)
        async with browser(intake) as client:
            response = await sign_in(client, created["token"])
            assert response.status_code == 303
            assert response.headers["location"] == "/workspace/"
            flags = cookie_attributes(response, "careloop_workspace")
            assert flags["httponly"] is True
            assert str(flags["samesite"]).lower() == "lax"
            assert flags["path"] == "/workspace"
            assert not flags["secure"]  # plain HTTP on loopback: a Secure cookie would never come back
            session_id = client.cookies["careloop_workspace"]
            assert (
                await fetchval(
                    intake, "SELECT count(*) FROM workspace_sessions WHERE id_sha256 = $1", session_id
                )
                == 0
            )
            digest = hashlib.sha256(session_id.encode()).hexdigest()
            row_agent = await fetchval(
                intake, "SELECT agent_id FROM workspace_sessions WHERE id_sha256 = $1", digest
            )
            assert row_agent == created["id"]
            queue = await client.get("/workspace/")
            assert queue.status_code == 200
            assert "Ola" in queue.text
            assert queue.headers["cache-control"] == "no-store"
            assert queue.headers["server-timing"].startswith("app;dur=")
            assert "frame-ancestors 'none'" in queue.headers["content-security-policy"]
            assert session_id not in queue.text

        async with browser(intake) as proxied:  # plain HTTP behind a proxy that terminated TLS
            form = await proxied.get("/workspace/sign-in", headers={"x-forwarded-proto": "https"})
            assert cookie_attributes(form, "careloop_workspace_sign_in")["secure"] is True
        async with browser(intake, "https://careloop.test") as tls:
            response = await sign_in(tls, created["token"])
            assert response.status_code == 303
            assert cookie_attributes(response, "careloop_workspace")["secure"] is True
            assert (await tls.get("/workspace/")).status_code == 200


async def test_a_wrong_token_or_a_forged_sign_in_signs_nobody_in(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        created = await create_agent(intake)
        async with browser(intake) as client:
            wrong = await sign_in(client, "cla_not-a-token")
            assert wrong.status_code == 401
            assert "This token does not sign anybody in" in wrong.text or "nikogo nie loguje" in wrong.text
            shop_key = await sign_in(client, KEY_A)  # the shop's key is nobody's sign-in
            assert shop_key.status_code == 401
            assert "careloop_workspace" not in client.cookies
        async with browser(intake) as forged:  # a form posted from elsewhere: no sign-in cookie to match
            response = await forged.post(
                "/workspace/sign-in", data={"csrf": "x" * 43, "token": created["token"]}
            )
            assert response.status_code == 403
            assert "careloop_workspace" not in forged.cookies
        assert await fetchval(intake, "SELECT count(*) FROM workspace_sessions") == 0


async def test_without_a_session_a_page_sends_to_sign_in_and_back(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        ticket_id = await open_ticket(intake)
        created = await create_agent(intake)
        async with browser(intake) as client:
            page = await client.get(f"/workspace/tickets/{ticket_id}")
            assert page.status_code == 303
            assert page.headers["location"] == f"/workspace/sign-in?next=%2Fworkspace%2Ftickets%2F{ticket_id}"
            form = await client.get(page.headers["location"])
            back = await client.post(
                "/workspace/sign-in",
                data={
                    "csrf": csrf_of(form.text),
                    "token": created["token"],
                    "next": f"/workspace/tickets/{ticket_id}",
                },
            )
            assert back.headers["location"] == f"/workspace/tickets/{ticket_id}"
            hostile = await client.get("/workspace/sign-in?next=https://evil.example/")
            assert hostile.headers["location"] == "/workspace/"  # signed in already: home, never away


async def test_every_form_refuses_a_post_without_the_sessions_csrf_token(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        ticket_id = await open_ticket(intake)
        async with signed_in(intake) as (client, _):
            async with signed_in(intake, name="Ewa") as (other, _):
                theirs = await page_csrf(other, "/workspace/")
            forms = {
                f"/workspace/tickets/{ticket_id}/reply": {"body": "Hello"},
                f"/workspace/tickets/{ticket_id}/note": {"body": "Psst"},
                f"/workspace/tickets/{ticket_id}/status": {"status": "solved"},
                f"/workspace/tickets/{ticket_id}/merge": {"into": "tkt_x"},
                "/workspace/language": {"lang": "en"},
                "/workspace/sign-out": {},
            }
            for path, fields in forms.items():
                for token in (None, theirs, ""):
                    data = fields if token is None else {**fields, "csrf": token}
                    refused = await client.post(path, data=data)
                    assert refused.status_code == 403, (path, token, refused.text)
            assert (
                await fetchval(intake, "SELECT count(*) FROM messages WHERE ticket_id = $1", ticket_id) == 1
            )
            assert await fetchval(intake, "SELECT status FROM tickets WHERE id = $1", ticket_id) == "open"
            assert (await client.get("/workspace/")).status_code == 200  # still signed in
        async with browser(intake) as anonymous:
            refused = await anonymous.post(f"/workspace/tickets/{ticket_id}/reply", data={"body": "x"})
            assert refused.status_code == 403


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


async def test_another_shops_ticket_answers_404_to_every_page_and_form(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        theirs = await open_ticket(intake, KEY_B, body="Shop B's secret")
        async with signed_in(intake) as (client, _):
            csrf = await page_csrf(client, "/workspace/")
            page = await client.get(f"/workspace/tickets/{theirs}")
            assert page.status_code == 404
            assert "Shop B's secret" not in page.text
            for action, fields in (
                ("reply", {"body": "x"}),
                ("note", {"body": "x"}),
                ("status", {"status": "solved"}),
            ):
                response = await client.post(
                    f"/workspace/tickets/{theirs}/{action}", data={"csrf": csrf, **fields}
                )
                assert response.status_code == 404, action
            queue = await client.get("/workspace/")
            assert theirs not in queue.text
        assert await fetchval(intake, "SELECT count(*) FROM messages WHERE ticket_id = $1", theirs) == 1
        assert await fetchval(intake, "SELECT status FROM tickets WHERE id = $1", theirs) == "open"


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
        events = await ticket_events(intake, second, at_least=2)
        assert "ticket.merged" in types_of(events)


async def test_sign_out_deactivation_and_expiry_end_a_session(infra: Settings) -> None:
    async with running_intake(infra) as intake:
        async with signed_in(intake) as (client, _):
            csrf = await page_csrf(client, "/workspace/")
            switched = await client.post(
                "/workspace/language", data={"csrf": csrf, "lang": "en", "next": "/workspace/"}
            )
            assert switched.status_code == 303
            english = await client.get("/workspace/")
            assert '<html lang="en">' in english.text
            out = await client.post("/workspace/sign-out", data={"csrf": csrf_of(english.text)})
            assert out.status_code == 303
            assert await fetchval(intake, "SELECT count(*) FROM workspace_sessions") == 0
            assert (await client.get("/workspace/")).status_code == 303

        async with signed_in(intake, name="Ewa") as (second, ewa):
            assert (await second.get("/workspace/")).status_code == 200
            deactivated = await intake.client.delete(f"/v1/agents/{ewa['id']}", headers=auth(KEY_A))
            assert deactivated.status_code == 200
            assert (await second.get("/workspace/")).status_code == 303

        async with signed_in(intake, name="Iga") as (third, _):
            assert (await third.get("/workspace/")).status_code == 200
            pool = intake.app.runtime.db.pool
            await pool.execute("UPDATE workspace_sessions SET expires_at = now() - interval '1 second'")
            assert (await third.get("/workspace/")).status_code == 303

        async with signed_in(intake, name="Ula") as (fourth, ula):
            rotated = await intake.client.post(f"/v1/agents/{ula['id']}/token", headers=auth(KEY_A))
            assert rotated.status_code == 200
            assert (await fourth.get("/workspace/")).status_code == 303  # a new token ends the old sessions


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
        events = await ticket_events(intake, free, at_least=3)
        assigned = [e.data for e in events if e.type == "ticket.assigned"]
        assert [a.assignee_agent_id for a in assigned] == [me["id"], other["id"]]


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


async def test_pages_speak_the_browsers_or_the_shops_language_and_assets_come_from_intake(
    infra: Settings,
) -> None:
    async with running_intake(infra) as intake:
        created = await create_agent(intake, KEY_B)  # shop B speaks English
        async with browser(intake) as client:
            assert (await client.get("/workspace")).headers["location"] == "/workspace/"
            polish = await client.get("/workspace/sign-in", headers={"accept-language": "pl-PL,pl;q=0.9"})
            assert '<html lang="pl">' in polish.text
            assert "Logowanie do panelu" in polish.text
            english = await client.get("/workspace/sign-in?lang=en")
            assert '<html lang="en">' in english.text
            assert (await sign_in(client, created["token"])).status_code == 303
            assert '<html lang="en">' in (await client.get("/workspace/")).text  # the shop's language
            css = await client.get("/workspace/static/workspace.css")
            assert css.status_code == 200
            assert css.headers["content-type"].startswith("text/css")
            script = await client.get("/workspace/static/workspace.js")
            assert script.headers["content-type"].startswith("text/javascript")
            assert (await client.get("/workspace/static/other.js")).status_code == 404
            queue = await client.get("/workspace/")
            assert "script-src 'self'" in queue.headers["content-security-policy"]
            assert 'src="/workspace/static/workspace.js?v=' in queue.text
            assert "://" not in queue.text  # nothing from another host
