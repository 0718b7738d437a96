"""The workspace's access over the real Kafka and Postgres (no browser: tests/intake/
test_workspace_browser.py drives Chromium; the forms' effects: test_workspace_forms_real.py):
sign-in and its cookie, sessions kept as hashes and ended by sign-out, deactivation or expiry, CSRF on
every form, one shop never seeing another's tickets, the languages and the pages' own assets."""

from __future__ import annotations

import hashlib

import pytest

from runtime.settings import Settings
from tests.intake.helpers import fetchval, running_intake
from tests.intake.workspace_support import (
    browser,
    cookie_attributes,
    create_agent,
    csrf_of,
    open_ticket,
    page_csrf,
    sign_in,
    signed_in,
)
from tests.support.shops import KEY_A, KEY_B, auth

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]


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
