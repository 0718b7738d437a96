"""The demo shop against the four real services (Kafka + Postgres), time accelerated 7200x: orders
reach orders.events, notify's webhooks reach the receiver and pass standardwebhooks verification,
agents answer and solve tickets, customers answer surveys on the real answer page."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from demo.app import DemoShop
from demo.config import DemoSettings
from runtime.clock import clock_from_settings
from runtime.service import ServiceApp
from runtime.settings import Settings
from schemas import topics
from schemas.registry import decode_event
from services import SERVICE_NAMES
from tests.support.kafka import read_topic
from tests.support.shops import KEY_A, SHOP_A, auth
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

            async def everyone_did_their_part() -> dict[str, Any]:
                if running.done():
                    running.result()
                progress = {
                    "orders": shop.shop.stats.orders_created,
                    "verified": shop.receiver.stats.verified,
                    "answered_500": shop.receiver.stats.answered_500,
                    "solved": shop.agents.stats["solved"],
                    "surveys": sum(v for k, v in shop.customers.stats.items() if k.startswith("answered:")),
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

            # Survey answers arrived through the answer page and show in the reports.
            async def answers_reported() -> int:
                reports = [
                    (await clients["survey"].get(f"/v1/reports/{kind}")).json()["overall"]["answers"]
                    for kind in ("nps", "csat", "ces")
                ]
                return sum(reports)

            assert await eventually(answers_reported, timeout=10) >= 1

            # The summary drew real numbers from the services.
            await eventually(lambda: _async(lambda: "signatures verified" in out.getvalue()), timeout=5)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

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
