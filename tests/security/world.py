"""All four services in-process on one isolated run, with shop B owning a resource of every kind.

Shop B's resources are what shop A's key must never reach: a ticket, an order, a platform secret, an
agent, a team and a macro (intake),
its SLA clocks (sla), a webhook endpoint, a delivery and a template override (notify), and survey
reports (survey)."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from runtime.clock import ManualClock
from runtime.provision import ensure_service_schema
from runtime.service import ServiceApp
from runtime.settings import Settings
from schemas.registry import make_event
from schemas.topics import ORDERS
from schemas.v1.common import Customer
from schemas.v1.orders import OrderCreated
from services.notify import bootstrap as notify_bootstrap
from services.notify.config import NotifyConfig
from tests.notify.receiver import Receiver
from tests.support.kafka import produce
from tests.support.shops import KEY_B, SHOP_B, auth
from tests.support.stack import http_client, wait_ready
from tests.support.wait import eventually

SERVICES = ("intake", "sla", "notify", "survey")
B_MARK = "shop-b-private"
"""Every free-text value shop B stores contains this, so a leak shows up in any response body."""
B_TEMPLATE = ("order.shipped", "en")


@dataclass
class World:
    settings: Settings
    apps: dict[str, ServiceApp]
    clients: dict[str, httpx.AsyncClient]
    receiver: Receiver
    b_ids: dict[str, str] = field(default_factory=dict)
    """Path parameter name -> shop B's value for it (ticket_id, endpoint_id, delivery_id, ...)."""
    b_secrets: list[str] = field(default_factory=list)

    def b_markers(self) -> list[str]:
        owned = [v for k, v in self.b_ids.items() if k in OWNED_PARAMS]
        return [B_MARK, "secret-b@example.com", *owned, *self.b_secrets]


OWNED_PARAMS = frozenset(
    {
        "ticket_id",
        "endpoint_id",
        "delivery_id",
        "secret_id",
        "agent_id",
        "team_id",
        "order_id",
        "macro_id",
        "request_id",
    }
)
"""Path parameters naming one shop's resource: another shop's key must get 403/404 for them."""


async def _start(stack: AsyncExitStack, settings: Settings, name: str) -> ServiceApp:
    service_settings = settings.for_service(name)
    await ensure_service_schema(service_settings)
    app: ServiceApp
    if name == "notify":
        cfg = NotifyConfig(allow_loopback=True, poll_seconds=0.05, retry_jitter=0.0, gauge_seconds=0.5)
        app = notify_bootstrap.build(service_settings, cfg)
    else:
        app = importlib.import_module(f"services.{name}.bootstrap").build(service_settings)
    app.runtime.clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    await stack.enter_async_context(app.start_lifespan_context())
    await wait_ready(app)
    return app


@asynccontextmanager
async def running_world(settings: Settings) -> AsyncIterator[World]:
    receiver = await Receiver().start()
    try:
        async with AsyncExitStack() as stack:
            apps = {name: await _start(stack, settings, name) for name in SERVICES}
            clients = {name: await stack.enter_async_context(http_client(app)) for name, app in apps.items()}
            world = World(settings, apps, clients, receiver)
            await seed_shop_b(world)
            yield world
    finally:
        await receiver.stop()


async def seed_shop_b(world: World) -> None:
    notify, intake, sla = world.clients["notify"], world.clients["intake"], world.clients["sla"]
    created = await notify.post(
        "/v1/endpoints",
        json={"url": world.receiver.url(f"/{B_MARK}-hook"), "description": f"{B_MARK} endpoint"},
        headers=auth(KEY_B),
    )
    assert created.status_code == 201, created.text
    world.b_ids["endpoint_id"] = created.json()["id"]
    world.b_secrets.append(created.json()["secret"])
    event_type, language = B_TEMPLATE
    template = await notify.put(
        f"/v1/templates/{event_type}/{language}",
        json={"subject": f"{B_MARK} subject", "text": f"{B_MARK} text"},
        headers=auth(KEY_B),
    )
    assert template.status_code == 200, template.text
    world.b_ids["event_type"], world.b_ids["language"] = event_type, language

    platform_secret = f"{B_MARK}-woocommerce-secret"
    added = await intake.post(
        "/v1/platforms/secrets",
        json={"platform": "woocommerce", "secret": platform_secret},
        headers=auth(KEY_B),
    )
    assert added.status_code == 201, added.text
    world.b_ids["secret_id"] = str(added.json()["id"])
    world.b_secrets.append(platform_secret)

    team = await intake.post("/v1/teams", json={"name": f"{B_MARK} team"}, headers=auth(KEY_B))
    assert team.status_code == 201, team.text
    world.b_ids["team_id"] = team.json()["id"]
    agent = await intake.post(
        "/v1/agents",
        json={"name": f"{B_MARK} agent", "team_ids": [team.json()["id"]], "role": "lead"},
        headers=auth(KEY_B),
    )
    assert agent.status_code == 201, agent.text
    world.b_ids["agent_id"] = agent.json()["id"]
    world.b_secrets.append(agent.json()["token"])
    macro = await intake.post(
        "/v1/macros", json={"name": f"{B_MARK} macro", "texts": {"en": f"{B_MARK} text"}}, headers=auth(KEY_B)
    )
    assert macro.status_code == 201, macro.text
    world.b_ids["macro_id"] = macro.json()["id"]

    contact = await intake.post(
        "/v1/contacts",
        json={
            "channel": "email",
            "customer_email": "secret-b@example.com",
            "subject": f"{B_MARK} subject",
            "body": f"{B_MARK} message body",
        },
        headers=auth(KEY_B),
    )
    assert contact.status_code == 201, contact.text
    ticket_id = contact.json()["ticket_id"]
    world.b_ids["ticket_id"] = ticket_id
    world.b_ids["shop_id"], world.b_ids["key_id"] = SHOP_B, "seed"  # the operator API's (admin only)

    async def clocks_running() -> bool:
        response = await sla.get(f"/v1/sla/tickets/{ticket_id}/clocks", headers=auth(KEY_B))
        return response.status_code == 200

    await eventually(clocks_running, timeout=30)

    async def delivered() -> list[Any]:
        response = await notify.get(
            f"/v1/endpoints/{world.b_ids['endpoint_id']}/deliveries", headers=auth(KEY_B)
        )
        return (
            [d for d in response.json() if d["status"] == "succeeded"] if response.status_code == 200 else []
        )

    deliveries = await eventually(delivered, timeout=30)
    world.b_ids["delivery_id"] = deliveries[0]["id"]
    await _seed_order(world)
    await _seed_privacy_request(world)
    await _audit_settled(world)


async def _seed_privacy_request(world: World) -> None:
    """A privacy request of shop B's: the export of its order's customer (whose data stays)."""
    world.b_ids["customer_id"] = f"{B_MARK}-customer"
    asked = await world.clients["intake"].post(
        f"/v1/customers/{world.b_ids['customer_id']}/export", headers=auth(KEY_B)
    )
    assert asked.status_code == 202, asked.text
    world.b_ids["request_id"] = asked.json()["request_id"]

    async def complete() -> bool:
        response = await world.clients["intake"].get(
            f"/v1/privacy/requests/{world.b_ids['request_id']}", headers=auth(KEY_B)
        )
        return response.status_code == 200 and response.json()["status"] == "complete"

    # shop B's view of it must not change while shop A tries everything
    await eventually(complete, timeout=60)


async def _audit_settled(world: World) -> None:
    """The seed's actions reach shop B's audit log through Kafka: wait until it stops growing, so
    the snapshot before shop A's attempts is the one after them."""
    last: list[Any] = []

    async def unchanged() -> bool:
        nonlocal last
        await asyncio.sleep(1.0)
        response = await world.clients["intake"].get("/v1/audit", headers=auth(KEY_B))
        entries = response.json()["entries"]
        settled, last = bool(entries) and entries == last, entries
        return settled

    await eventually(unchanged, timeout=30)


async def _seed_order(world: World) -> None:
    """An order of shop B's, as its platform announced it on orders.events."""
    order_id = f"{B_MARK}-order"
    created = OrderCreated(
        shop_id="shop-b",
        order_id=order_id,
        customer=Customer(id=f"{B_MARK}-customer", email="secret-b@example.com"),
        total=Decimal("10.00"),
        currency="EUR",
    )
    await produce(
        world.settings, ORDERS.name, make_event("order.created", "shop-b", created, subject=order_id)
    )

    async def known() -> bool:
        response = await world.clients["intake"].get(f"/v1/orders/{order_id}", headers=auth(KEY_B))
        return response.status_code == 200

    await eventually(known, timeout=30)
    world.b_ids["order_id"] = order_id
