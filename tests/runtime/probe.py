"""A tiny service on the shared runtime, used to test the runtime itself against real Kafka/Postgres."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime.binding import each
from runtime.consumer import Unprocessable
from runtime.db import Connection
from runtime.outbox import enqueue
from runtime.service import ServiceApp, ServiceRuntime
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import CloudEvent
from schemas.registry import make_event
from schemas.v1.orders import OrderCreated

MIGRATIONS = Path(__file__).parent / "probe_sql"


async def record_order(event: CloudEvent[Any], conn: Connection, *, out_topic: str) -> None:
    data: OrderCreated = event.data
    if data.order_id.startswith("boom"):
        raise ValueError("the probe refuses orders named boom*")
    if data.shop_id == "unknown-shop":
        raise Unprocessable(f"unknown shop {data.shop_id}")
    await conn.execute(
        "INSERT INTO seen (order_id, times) VALUES ($1, 1) "
        "ON CONFLICT (order_id) DO UPDATE SET times = seen.times + 1",
        data.order_id,
    )
    await enqueue(conn, out_topic, make_event("order.created", "careloop/probe", data, subject=data.order_id))


def build(settings: Settings) -> ServiceApp:
    runtime = ServiceRuntime(settings.for_service("probe"), MIGRATIONS)
    out_topic = runtime.topic(topics.TICKETS)

    async def handle(event: CloudEvent[Any], conn: Connection, topic: str) -> None:
        await record_order(event, conn, out_topic=topic)

    runtime.consume(topics.ORDERS, each("probe-orders", out_topic, {"order.created": handle}))
    return runtime.asgi()
