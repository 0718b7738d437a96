"""The shared runtime over the real Kafka and Postgres: outbox, idempotency, dead letters, health."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import asyncpg
import pytest

from runtime.kafka import DLQ_CONSUMER, DLQ_REASON
from runtime.outbox import enqueue
from runtime.provision import ensure_service_schema
from runtime.service import ServiceApp
from runtime.settings import Settings
from schemas import topics
from schemas.registry import decode_event, encode_event, make_event
from schemas.v1.common import Customer
from schemas.v1.orders import OrderCreated
from tests.runtime import probe
from tests.support.kafka import produce, read_topic
from tests.support.stack import http_client, wait_ready
from tests.support.wait import eventually

pytestmark = pytest.mark.kafka


def order_created(order_id: str, shop_id: str = "shop-1") -> OrderCreated:
    return OrderCreated(
        shop_id=shop_id,
        order_id=order_id,
        customer=Customer(id="c-1", email="anna@example.com", name="Anna"),
        total=Decimal("99.90"),
        currency="PLN",
    )


@asynccontextmanager
async def running_probe(settings: Settings) -> AsyncIterator[ServiceApp]:
    await ensure_service_schema(settings.for_service("probe"))
    app = probe.build(settings)
    async with app.start_lifespan_context():
        await wait_ready(app)
        yield app


async def probe_conn(settings: Settings) -> asyncpg.Connection[asyncpg.Record]:
    s = settings.for_service("probe")
    return await asyncpg.connect(s.service_dsn(), server_settings={"search_path": s.db_schema})


async def test_state_and_event_commit_together_or_not_at_all(infra: Settings) -> None:
    async with running_probe(infra) as app:
        runtime = app.runtime
        out = runtime.topic(topics.TICKETS)
        with pytest.raises(RuntimeError):
            async with runtime.db.transaction() as conn:
                await conn.execute("INSERT INTO seen VALUES ('rolled-back', 1)")
                await enqueue(conn, out, make_event("order.created", "t", order_created("rolled-back")))
                raise RuntimeError("the effect failed after the outbox write")
        async with runtime.db.transaction() as conn:
            await conn.execute("INSERT INTO seen VALUES ('committed', 1)")
            await enqueue(conn, out, make_event("order.created", "t", order_created("committed")))

        records = await read_topic(infra, topics.TICKETS.name, at_least=1)
        order_ids = [decode_event(r.value).data.order_id for r in records]
        assert order_ids == ["committed"]
        assert await runtime.db.pool.fetchval("SELECT count(*) FROM outbox") == 0
        assert await runtime.db.pool.fetchval("SELECT array_agg(order_id) FROM seen") == ["committed"]


async def test_outbox_rows_committed_before_a_crash_are_relayed_after_restart(infra: Settings) -> None:
    # First life: the transaction commits, then the process dies before its relay ran.
    async with running_probe(infra):
        pass
    conn = await probe_conn(infra)
    try:
        async with conn.transaction():
            await conn.execute("INSERT INTO seen VALUES ('pre-crash', 1)")
            event = make_event("order.created", "t", order_created("pre-crash"), subject="pre-crash")
            await conn.execute(
                "INSERT INTO outbox (event_id, topic, key, payload) VALUES ($1, $2, $3, $4)",
                event.id,
                infra.topic(topics.TICKETS.name),
                "pre-crash",
                encode_event(event),
            )
    finally:
        await conn.close()
    # Second life: the relay finds the row and ships it, exactly once.
    async with running_probe(infra) as app:
        records = await read_topic(infra, topics.TICKETS.name, at_least=1)
        assert [decode_event(r.value).id for r in records] == [event.id]
        assert records[0].key == b"pre-crash"
        await eventually(lambda: _outbox_empty(app))


async def _outbox_empty(app: ServiceApp) -> bool:
    return bool(await app.runtime.db.pool.fetchval("SELECT count(*) FROM outbox") == 0)


async def test_the_same_event_twice_has_one_effect(infra: Settings) -> None:
    event = make_event("order.created", "shop", order_created("o-dup"), subject="o-dup")
    async with running_probe(infra) as app:
        await produce(infra, topics.ORDERS.name, event)
        await produce(infra, topics.ORDERS.name, event)
        await produce(infra, topics.ORDERS.name, make_event("order.created", "shop", order_created("o-next")))

        async def both_seen() -> bool:
            return bool(await app.runtime.db.pool.fetchval("SELECT count(*) FROM seen") == 2)

        await eventually(both_seen)
        assert await app.runtime.db.pool.fetchval("SELECT times FROM seen WHERE order_id = 'o-dup'") == 1
        emitted = await read_topic(infra, topics.TICKETS.name, at_least=2)
        assert sorted(decode_event(r.value).data.order_id for r in emitted) == ["o-dup", "o-next"]


async def test_malformed_events_land_in_the_dlq_with_their_reason_and_the_consumer_goes_on(
    infra: Settings,
) -> None:
    good = make_event("order.created", "shop", order_created("o-good"), subject="o-good")
    wrong_schema = json.loads(encode_event(good))
    wrong_schema["id"] = "wrong-schema-1"
    del wrong_schema["data"]["order_id"]
    unknown_type = {**json.loads(encode_event(good)), "id": "u-1", "type": "order.teleported"}
    poison: dict[str, bytes] = {
        "bad json": b"{not json",
        "wrong schema": json.dumps(wrong_schema).encode(),
        "unknown type": json.dumps(unknown_type).encode(),
        "huge": b'{"x": "' + b"a" * 300_000 + b'"}',
    }
    async with running_probe(infra) as app:
        for payload in poison.values():
            await produce(infra, topics.ORDERS.name, payload, key="o-poison")
        # one key, so one partition: the DLQ keeps the order in which they were produced
        for event in (
            make_event("order.created", "s", order_created("boom-1")),
            make_event("order.created", "s", order_created("x", "unknown-shop")),
            good,
        ):
            await produce(infra, topics.ORDERS.name, event, key="o-poison")

        async def good_applied() -> bool:
            applied = await app.runtime.db.pool.fetchval("SELECT count(*) FROM seen WHERE order_id='o-good'")
            return bool(applied == 1)

        await eventually(good_applied)
        dlq = await read_topic(infra, topics.ORDERS.dlq, at_least=6)
        reasons = [dict(r.headers)[DLQ_REASON].decode() for r in dlq]
        assert len(dlq) == 6
        assert reasons[0].startswith("not JSON")
        assert reasons[1].startswith("invalid order.created data: order_id: Field required")
        assert reasons[2] == "unknown event type 'order.teleported'"
        assert reasons[3].startswith("event too large")
        assert reasons[4].startswith("handler failed 3 times: ValueError")
        assert reasons[5] == "unprocessable: unknown shop unknown-shop"
        assert {dict(r.headers)[DLQ_CONSUMER] for r in dlq} == {b"probe-orders"}
        assert dlq[0].value == b"{not json"  # the original bytes, untouched
        rows = await app.runtime.db.pool.fetch("SELECT reason FROM dead_letters ORDER BY id")
        assert [r["reason"] for r in rows] == reasons


async def test_health_endpoints_and_metrics(infra: Settings) -> None:
    async with running_probe(infra) as app, http_client(app) as client:
        assert (await client.get("/health/live")).status_code == 200
        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"postgres": True, "kafka": True}
        metrics = (await client.get("/metrics")).text
        assert "careloop_outbox_backlog" in metrics
        assert "careloop_events_consumed_total" in metrics


async def test_consumer_lag_is_measured_against_committed_offsets(infra: Settings) -> None:
    async with running_probe(infra) as app:
        for n in range(3):
            await produce(
                infra, topics.ORDERS.name, make_event("order.created", "s", order_created(f"lag-{n}"))
            )

        async def all_consumed() -> bool:
            lag = await app.runtime.lag.measure()
            return len(lag) == topics.ORDERS.partitions and sum(lag.values()) == 0

        await eventually(all_consumed)
        seen = await app.runtime.db.pool.fetchval("SELECT count(*) FROM seen")
        assert seen == 3
        async with http_client(app) as client:
            metrics = (await client.get("/metrics")).text
        topic = infra.topic("orders.events")
        assert (
            f'careloop_consumer_lag_records{{partition="0",service="probe",topic="{topic}"}} 0.0' in metrics
        )


async def test_rows_committing_out_of_id_order_are_all_relayed(infra: Settings) -> None:
    """Ids are taken at insert but rows become visible at commit: a relay round must never delete
    a row it did not read."""
    async with running_probe(infra) as app:
        runtime = app.runtime
        out = runtime.topic(topics.TICKETS)

        async def write(n: int) -> str:
            async with runtime.db.transaction() as conn:
                event = make_event("order.created", "t", order_created(f"race-{n}"), subject=f"race-{n}")
                await enqueue(conn, out, event)
                await conn.execute("SELECT pg_sleep($1)", (n * 7 % 13) / 200)  # commit in a scrambled order
            return event.id

        written = await asyncio.gather(*(write(n) for n in range(300)))
        records = await read_topic(infra, topics.TICKETS.name, at_least=300, timeout=30)
        assert sorted({decode_event(r.value).id for r in records}) == sorted(written)
        await eventually(lambda: _outbox_empty(app))
