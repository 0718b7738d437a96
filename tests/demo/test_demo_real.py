"""The demo shop against the four real services (Kafka + Postgres), time accelerated 7200x: orders
reach orders.events, notify's webhooks reach the receiver and pass standardwebhooks verification,
agents answer and solve tickets, customers answer surveys on the real answer page; a ticket somebody
creates by hand with the shop's key (the README's example) is left alone by the agents, and its survey
by the customers; the clean slate of the next run deletes the demo shop's rows and no other shop's."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from demo.app import DemoShop
from demo.config import DemoSettings
from demo.slate import clear_shop
from runtime.clock import clock_from_settings
from runtime.service import ServiceApp
from runtime.settings import Settings
from schemas import topics
from schemas.registry import decode_event
from services import SERVICE_NAMES
from tests.support.kafka import read_topic
from tests.support.net import free_port
from tests.support.shops import KEY_A, KEY_B, SHOP_A, SHOP_B, auth
from tests.support.stack import running_service
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

SPEED = 7200.0  # two hours of shop time per second


@asynccontextmanager
async def four_services(settings: Settings) -> AsyncIterator[dict[str, ServiceApp]]:
    async with AsyncExitStack() as stack:
        apps = {n: await stack.enter_async_context(running_service(settings, n)) for n in SERVICE_NAMES}
        yield apps


def client(app: ServiceApp, name: str, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=f"http://{name}.test", headers=headers, timeout=10.0
    )


async def test_the_demo_shop_drives_every_service(infra: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_ALLOW_LOOPBACK", "true")  # the receiver listens on 127.0.0.1
    monkeypatch.setenv("SURVEY_NPS_DELAY_DAYS", "0")
    settings = infra.model_copy(update={"time_factor": SPEED, "time_origin": datetime.now(UTC)})
    demo = DemoSettings(
        shop_id=SHOP_A,
        api_key=SecretStr(KEY_A),
        orders_per_day=30,
        history_days=2,
        receiver_port=0,
        receiver_failure_ratio=0.2,
        agent_poll_seconds=0.3,
        summary_seconds=0.5,
    )
    out = io.StringIO()
    async with four_services(settings) as apps, AsyncExitStack() as stack:
        clients = {n: await stack.enter_async_context(client(app, n, auth(KEY_A))) for n, app in apps.items()}
        # Customers follow the absolute link from the invitation; the transport is the survey app's.
        pages = await stack.enter_async_context(client(apps["survey"], "pages"))
        shop = DemoShop(
            settings,
            demo,
            clock_from_settings(settings.time_factor, settings.time_origin),
            urls={n: f"http://{n}.test" for n in apps},
            clients=clients,
            pages=pages,
            speed=SPEED,
            out=out,
        )
        running = asyncio.create_task(shop.run())
        try:
            await eventually(lambda: _async(lambda: shop.endpoint_id is not None), timeout=30)
            # Somebody tries the README's examples meanwhile, with the demo shop's key: one ticket they
            # leave open, one they answer and solve themselves (its CSAT invitation is theirs too).
            intake = clients["intake"]
            theirs = await by_hand(
                intake, "anna@example.com", "Where is my parcel?", "Order 1001 has not arrived"
            )
            solved_by_hand = await by_hand(intake, "jan@example.com", "Invoice", "Please send the invoice")
            reply = {"body": "Sent, see the attachment.", "author_name": "me"}
            assert (await intake.post(f"/v1/tickets/{solved_by_hand}/replies", json=reply)).is_success
            done = await intake.post(f"/v1/tickets/{solved_by_hand}/status", json={"status": "solved"})
            assert done.is_success, done.text
            # and an endpoint of their own (nobody listens there: its deliveries wait for retries)
            endpoint = {"url": f"http://127.0.0.1:{free_port()}/hook", "event_types": ["ticket.created"]}
            assert (await clients["notify"].post("/v1/endpoints", json=endpoint)).status_code == 201
            # and another shop's ticket, which the next run's clean slate must keep
            other_shop = client(apps["intake"], "intake", auth(KEY_B))
            async with other_shop:
                await by_hand(other_shop, "eve@example.com", "Hello", "A question for shop B")

            async def everyone_did_their_part() -> dict[str, Any]:
                if running.done():
                    running.result()
                progress = {
                    "orders": shop.shop.stats.orders_created,
                    "verified": shop.receiver.stats.verified,
                    "answered_500": shop.receiver.stats.answered_500,
                    "solved": shop.agents.stats["solved"],
                    "surveys": sum(v for k, v in shop.customers.stats.items() if k.startswith("answered:")),
                    "invitation left alone": shop.customers.stats["not_ours"],
                }
                return progress if all(progress.values()) else {}

            await eventually(everyone_did_their_part, timeout=75, interval=0.5)

            # Webhooks: every request verified with standardwebhooks, none failed; notify saw successes
            # and retried the ones the receiver answered 500.
            assert shop.receiver.stats.bad_signature == 0
            listing = f"/v1/endpoints/{shop.endpoint_id}/deliveries"
            wanted: dict[str, str | int] = {"status": "succeeded", "limit": 500}
            succeeded = (await clients["notify"].get(listing, params=wanted)).json()
            assert succeeded
            assert all(d["last_status_code"] == 204 for d in succeeded)
            retried = [d for d in succeeded if d["attempts"] > 1]
            assert retried, "the receiver answered 500 on purpose; notify must have retried and succeeded"

            # A forged delivery is refused and counted as failed.
            async with httpx.AsyncClient() as http:
                forged = await http.post(
                    shop.server.url,
                    content=b'{"type":"order.created","timestamp":"2026-01-01T00:00:00Z","data":{}}',
                    headers={
                        "webhook-id": "msg_forged",
                        "webhook-timestamp": str(int(datetime.now(UTC).timestamp())),
                        "webhook-signature": "v1,bm90IGEgc2lnbmF0dXJl",
                    },
                )
            assert forged.status_code == 400
            assert shop.receiver.stats.bad_signature == 1

            # Tickets were answered by the agents through intake's API.
            solved = (await clients["intake"].get("/v1/tickets", params={"status": "solved"})).json()
            assert solved["tickets"]
            assert all(t["agent_replies"] >= 1 and t["first_response_at"] for t in solved["tickets"])
            # ... by the demo shop's agents, each with their own token: the replies and the tickets are theirs
            assert shop.staff is not None
            bots = {seat.agent_id for seat in shop.staff.bots}
            worked = [t for t in solved["tickets"] if t["id"] != solved_by_hand]
            assert worked
            assert {t["assignee_agent_id"] for t in worked} <= bots
            conversation = (await intake.get(f"/v1/tickets/{worked[0]['id']}")).json()["messages"]
            replies = [m for m in conversation if m["author"] == "agent" and not m["internal"]]
            assert replies
            assert {m["author_agent_id"] for m in replies} <= bots
            sign_in_token = shop.staff.you.token
            you = await intake.get("/v1/agents/me", headers=auth(sign_in_token))
            assert (you.status_code, you.json()["available"]) == (200, False)  # takes what they like

            # Survey answers arrived through the answer page and show in the reports.
            async def answers_reported() -> int:
                reports = [
                    (await clients["survey"].get(f"/v1/reports/{kind}")).json()["overall"]["answers"]
                    for kind in ("nps", "csat", "ces")
                ]
                return sum(reports)

            assert await eventually(answers_reported, timeout=10) >= 1

            # The ticket created by hand: no demo agent answered, solved or set it pending.
            ticket = (await intake.get(f"/v1/tickets/{theirs}")).json()
            assert ticket["status"] == "open"
            assert ticket["agent_replies"] == 0
            assert [m["author"] for m in ticket["messages"] if not m["internal"]] == ["customer"]
            assert shop.agents.unsolved["others"] >= 1
            assert shop.customers.stats["not_ours"] >= 1  # the invitation for the ticket solved by hand

            # The summary drew real numbers from the services, the ticket by hand apart from the demo's.
            def summary_shows(text: str) -> bool:
                return text in out.getvalue()

            await eventually(lambda: _async(lambda: summary_shows("signatures verified")), timeout=5)
            await eventually(lambda: _async(lambda: summary_shows(sign_in_token)), timeout=5)
            await eventually(
                lambda: _async(lambda: summary_shows("not the demo's (created by hand)")), timeout=5
            )
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

    # The next run's clean slate (the services are stopped, as before `make run` starts them): every
    # row of the demo shop goes, from every service's schema; the other shop's stay.
    schemas = [settings.for_service(name).db_schema for name in SERVICE_NAMES]
    database_url = settings.database_url.get_secret_value()
    # The audit log is append-only and keeps earlier runs' history (demo/slate.py): not counted here.
    before = {k: n for k, n in (await shop_rows(database_url, schemas)).items() if k[0] != "intake.audit_log"}
    for table in (
        "intake.tickets",
        "intake.messages",
        "intake.agents",
        "sla.clocks",
        "survey.invitations",
        "notify.deliveries",
    ):
        assert before[table, SHOP_A] > 0, table
    deleted = await clear_shop(database_url, schemas, SHOP_A)
    assert sum(deleted.values()) == sum(n for (_, shop_id), n in before.items() if shop_id == SHOP_A)
    after = {k: n for k, n in (await shop_rows(database_url, schemas)).items() if k[0] != "intake.audit_log"}
    assert {key: n for key, n in after.items() if key[1] == SHOP_A} == {}
    assert {key: n for key, n in after.items() if key[1] != SHOP_A} == {
        key: n for key, n in before.items() if key[1] != SHOP_A
    }
    assert after["intake.tickets", SHOP_B] == 1

    # The published order journeys are on the topic, as valid events of the demo shop.
    records = await read_topic(infra, topics.ORDERS.name, at_least=shop.shop.stats.orders_created)
    events = [decode_event(r.value) for r in records]
    created = sum(e.type == "order.created" for e in events)
    # Stopping may cancel the generator between Kafka's ack and its own count: one more on the topic.
    assert shop.shop.stats.orders_created <= created <= shop.shop.stats.orders_created + 1
    assert {e.data.shop_id for e in events} == {SHOP_A}
    # Stopping removed the demo's endpoint from notify (a later run starts clean).
    assert shop.endpoint_id is None


async def _async(check: Any) -> bool:
    return bool(check())


async def by_hand(intake: httpx.AsyncClient, email: str, subject: str, body: str) -> str:
    """A contact as the README's curl example sends it: the ticket id."""
    contact = {"channel": "email", "customer_email": email, "subject": subject, "body": body}
    response = await intake.post("/v1/contacts", json=contact)
    assert response.status_code == 201, response.text
    return str(response.json()["ticket_id"])


async def shop_rows(database_url: str, schemas: list[str]) -> dict[tuple[str, str], int]:
    """Rows per (service.table, shop) of every table with a shop, the schema prefix left out."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.columns"
            " WHERE column_name = 'shop_id' AND table_schema = ANY($1::text[])",
            schemas,
        )
        counts: dict[tuple[str, str], int] = {}
        for schema, name in tables:
            statement = await conn.fetchval(
                "SELECT format('SELECT shop_id, count(*) FROM %I.%I GROUP BY shop_id', $1::text, $2::text)",
                schema,
                name,
            )
            service = schema.rsplit("_", 1)[-1]
            for row in await conn.fetch(statement):
                counts[f"{service}.{name}", row["shop_id"]] = int(row["count"])
        return counts
    finally:
        await conn.close()
