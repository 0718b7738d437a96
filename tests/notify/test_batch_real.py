"""Notify's batch path over the real Postgres: the batch handler against the per-event handler, and the
statement that records a batch of successful attempts.

The same Kafka batches go once through the consumer as the service builds it (the batch handler first,
the runtime's event-by-event fallback when it raises) and once with the per-event handler alone; the
delivery queue must end up identical, in the same order. The batches hold several steps of one order,
two shops, a disabled endpoint, filters that match some types only, a shop's own template in one
language, a duplicate inside a batch and across batches, and an event of a shop nobody knows.

careloop_notify_deliveries_queued_total counts the deliveries that committed, not every attempt: a batch
whose commit is refused (also after it was redone event by event) is counted once Kafka's redelivery
commits."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from runtime.consumer import Consumer, EventProcessor
from runtime.service import ServiceRuntime
from runtime.settings import Settings
from schemas import topics
from schemas.envelope import CloudEvent
from schemas.registry import make_event
from schemas.v1.contacts import Channel
from schemas.v1.orders import ORDER_EVENT_TYPES, OrderCreated
from schemas.v1.tickets import Category, Priority, TicketSolved
from services.notify import bootstrap
from services.notify.config import NotifyConfig
from services.notify.context import Context
from services.notify.domain.outcome import HEALTHY
from services.notify.domain.signing import new_secret
from services.notify.domain.templates import MessageTemplate
from services.notify.repository import deliveries, endpoints
from services.notify.repository.attempts import Success, claim, record_successes
from services.notify.repository.deliveries import NewDelivery
from services.notify.repository.endpoints import Endpoint
from tests.notify.harness import customer, order_event
from tests.support.batches import RecordingSink, one_per_batch, records, service_storage
from tests.support.shops import SHOP_A, SHOP_B

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
UNKNOWN_SHOP = "shop-zz"


@pytest.fixture
async def runtime(pg_infra: Settings) -> AsyncIterator[ServiceRuntime]:
    async with service_storage(pg_infra, "notify", bootstrap.MIGRATIONS) as service:
        yield service


def endpoint(endpoint_id: str, shop_id: str, event_types: list[str], enabled: bool = True) -> Endpoint:
    return Endpoint(
        endpoint_id, shop_id, f"https://{endpoint_id}.example/hook", "", event_types, None, enabled,
        None, None, new_secret(b"k" * 24), None, None, None, 0, None, AT, AT,
    )  # fmt: skip


async def seed(runtime: ServiceRuntime) -> None:
    async with runtime.db.transaction() as conn:
        await conn.execute("TRUNCATE deliveries, attempts, endpoints, template_overrides, processed_events")
        await conn.execute("TRUNCATE dead_letters")
        for e in (
            endpoint("ep_a1", SHOP_A, ["order.*"]),
            endpoint("ep_a2", SHOP_A, ["order.shipped", "ticket.solved"]),
            endpoint("ep_a3", SHOP_A, ["*"], enabled=False),
            endpoint("ep_b1", SHOP_B, ["*"]),
        ):
            await endpoints.insert_endpoint(conn, e)
        template = MessageTemplate("Paczka {{ order_id }}", "Jedzie: {{ tracking_number }}")
        await endpoints.put_template_override(conn, SHOP_A, "order.shipped", "pl", template, AT)


async def run(
    runtime: ServiceRuntime, consumer: Consumer, batches: list[list[CloudEvent[Any]]]
) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """The queue (in seq order, without the random delivery ids) and the dead letters after the batches."""
    await seed(runtime)
    sink = RecordingSink()
    processor = EventProcessor(runtime.db, sink, "notify", attempts=2)
    for batch in records(batches):
        await processor.process_batch(consumer, batch)
    rows = await runtime.db.pool.fetch(
        "SELECT shop_id, endpoint_id, webhook_id, event_id, event_type, event_time, order_key, body,"
        " status, next_attempt_at, created_at FROM deliveries ORDER BY seq"
    )
    return [dict(r) for r in rows], sink.letters


def at_fixed_time(runtime: ServiceRuntime) -> Context:
    return Context(runtime.shops, lambda: AT, runtime.topic(topics.NOTIFY), NotifyConfig())


def orders_consumer(runtime: ServiceRuntime) -> Consumer:
    return bootstrap.consumer("notify-orders", tuple(ORDER_EVENT_TYPES), at_fixed_time(runtime))


def with_time(event: CloudEvent[Any], minutes: int) -> CloudEvent[Any]:
    return event.model_copy(update={"time": AT + timedelta(minutes=minutes)})


async def test_a_batch_queues_what_its_events_one_by_one_queue(runtime: ServiceRuntime) -> None:
    built = orders_consumer(runtime)
    calls: list[int] = []

    async def counted(events: Any, conn: Any) -> None:
        calls.append(len(events))
        await built.apply(events, conn)

    batched = replace(built, apply=counted)

    created = with_time(order_event("order.created", "o-1"), 0)
    first = [
        created,
        with_time(order_event("order.paid", "o-1"), 1),
        with_time(order_event("order.shipped", "o-1"), 2),  # ep_a2 too, with the shop's template
        with_time(order_event("order.created", "o-2", locale="en-GB"), 3),  # English default
        created,  # a duplicate inside the batch
        with_time(order_event("order.shipped", "o-3", shop_id=SHOP_B), 4),
        with_time(order_event("order.delivered", "o-1"), 5),
    ]
    second = [
        created,  # redelivered in a later batch
        with_time(order_event("order.paid", "o-2", locale="en-GB"), 6),
        with_time(order_event("order.paid", "o-9", shop_id=UNKNOWN_SHOP), 7),
        with_time(order_event("order.shipped", "o-2", locale="en-GB"), 8),  # no English override
    ]

    queue, letters = await run(runtime, batched, [first, second])
    calls_batched = list(calls)
    reference, reference_letters = await run(runtime, built, one_per_batch([first, second]))

    # both batches went to the handler; the second raised and was redone event by event (a batch of
    # one each, up to the refused one, which stops its partition), and the event after the refused
    # one went through once that one was dead-lettered
    assert calls_batched == [6, 3, 1, 1, 1]
    assert queue == reference
    assert letters == reference_letters == [(9, "unprocessable: unknown shop 'shop-zz'")]
    # the shared result is the right one, so the comparison is not between two empty queues
    assert [(d["endpoint_id"], d["event_type"], d["order_key"]) for d in queue] == [
        ("ep_a1", "order.created", "order:o-1"),
        ("ep_a1", "order.paid", "order:o-1"),
        ("ep_a1", "order.shipped", "order:o-1"),
        ("ep_a2", "order.shipped", "order:o-1"),
        ("ep_a1", "order.created", "order:o-2"),
        ("ep_b1", "order.shipped", "order:o-3"),
        ("ep_a1", "order.delivered", "order:o-1"),
        ("ep_a1", "order.paid", "order:o-2"),
        ("ep_a1", "order.shipped", "order:o-2"),
        ("ep_a2", "order.shipped", "order:o-2"),
    ]
    messages = {(d["endpoint_id"], d["event_id"]): _message(d) for d in queue}
    shipped_o1 = first[2].id
    assert messages[("ep_a2", shipped_o1)]["subject"] == "Paczka o-1"
    assert messages[("ep_a2", shipped_o1)]["template"] == "shop"
    assert messages[("ep_a1", first[3].id)]["locale"] == "en"
    assert messages[("ep_a1", second[3].id)]["template"] == "default"


async def test_a_ticket_batch_is_keyed_by_ticket_and_filtered_by_type(runtime: ServiceRuntime) -> None:
    consumer = bootstrap.consumer("notify-tickets", bootstrap.TICKET_TYPES, at_fixed_time(runtime))
    solved = [
        make_event(
            "ticket.solved",
            "intake",
            TicketSolved(
                shop_id=shop,
                ticket_id=ticket,
                channel=Channel.EMAIL,
                category=Category.ORDER_STATUS,
                priority=Priority.NORMAL,
                at=AT,
                resolution_seconds=60.0,
                first_contact_resolution=True,
            ),
            subject=ticket,
        )
        for shop, ticket in ((SHOP_A, "t-1"), (SHOP_B, "t-2"), (SHOP_A, "t-3"))
    ]
    queue, letters = await run(runtime, consumer, [solved])
    reference, _ = await run(runtime, consumer, one_per_batch([solved]))
    assert queue == reference
    assert letters == []
    assert [(d["endpoint_id"], d["order_key"]) for d in queue] == [
        ("ep_a2", "ticket:t-1"),
        ("ep_b1", "ticket:t-2"),
        ("ep_a2", "ticket:t-3"),
    ]


def _message(row: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(row["body"])["data"]["customer_message"]
    return message


async def test_successes_are_recorded_together_and_only_while_still_held(runtime: ServiceRuntime) -> None:
    await seed(runtime)
    pool = runtime.db.pool
    async with runtime.db.transaction() as conn:
        await endpoints.update_endpoint(
            conn, SHOP_A, "ep_a1", AT, breaker_failures=3, failing_since=AT - timedelta(hours=1)
        )
        await deliveries.insert_deliveries(
            conn,
            [
                _delivery("dlv_1", "ep_a1", "e-1", "order:o-1"),
                _delivery("dlv_2", "ep_a1", "e-2", "order:o-1"),  # the next step of o-1
                _delivery("dlv_3", "ep_b1", "e-3", "order:o-3"),
                _delivery("dlv_4", "ep_b1", "e-4", "order:o-4"),
            ],
        )
        mine = await claim(conn, ["dlv_1", "dlv_3"], "token-1", 30.0)
        theirs = await claim(conn, ["dlv_4"], "token-2", 30.0)
    assert {c.id for c in mine} == {"dlv_1", "dlv_3"}
    assert [c.id for c in theirs] == ["dlv_4"]

    finished = AT + timedelta(seconds=2)
    async with pool.acquire() as conn:
        recorded = await record_successes(
            conn,
            [
                Success("dlv_1", "token-1", AT, finished, 200, 12.5, "ok", HEALTHY),
                Success("dlv_3", "token-1", AT, finished, 204, 3.0, "", HEALTHY),
                Success("dlv_4", "token-1", AT, finished, 200, 3.0, "ok", HEALTHY),  # taken over: not ours
            ],
        )
    assert recorded == {"dlv_1": True, "dlv_3": False}  # only o-1 has a step waiting behind it
    rows = {r["id"]: r for r in await pool.fetch("SELECT * FROM deliveries")}
    assert [rows[i]["status"] for i in ("dlv_1", "dlv_2", "dlv_3", "dlv_4")] == [
        "succeeded",
        "pending",
        "succeeded",
        "delivering",
    ]
    assert (rows["dlv_1"]["finished_at"], rows["dlv_1"]["last_status_code"]) == (finished, 200)
    assert rows["dlv_3"]["total_attempts"] == 1
    assert rows["dlv_4"]["claim_token"] == "token-2"
    attempts = await pool.fetch(
        "SELECT delivery_id, outcome, status_code, latency_ms, response_body FROM attempts ORDER BY id"
    )
    assert sorted(tuple(a) for a in attempts) == [
        ("dlv_1", "success", 200, 12.5, "ok"),
        ("dlv_3", "success", 204, 3.0, ""),
    ]
    healed = await pool.fetchrow("SELECT breaker_failures, failing_since FROM endpoints WHERE id = 'ep_a1'")
    assert healed is not None
    assert tuple(healed) == (0, None)


def _delivery(delivery_id: str, endpoint_id: str, event_id: str, order_key: str) -> NewDelivery:
    shop = SHOP_A if endpoint_id.startswith("ep_a") else SHOP_B
    data = OrderCreated(
        shop_id=shop, order_id=order_key, customer=customer(), total=Decimal("1.00"), currency="PLN"
    )
    return NewDelivery(
        delivery_id, shop, endpoint_id, f"msg_{event_id}", event_id, "order.created", AT, order_key,
        data.model_dump_json().encode(), AT,
    )  # fmt: skip


QUEUED_TYPES = ("order.created", "order.paid", "order.shipped")


def queued_metric() -> dict[str, float]:
    return {
        t: REGISTRY.get_sample_value("careloop_notify_deliveries_queued_total", {"event_type": t}) or 0.0
        for t in QUEUED_TYPES
    }


def counted_since(before: dict[str, float]) -> dict[str, float]:
    after = queued_metric()
    return {t: after[t] - before[t] for t in QUEUED_TYPES}


async def committed_by_type(runtime: ServiceRuntime) -> dict[str, float]:
    rows = await runtime.db.pool.fetch("SELECT event_type, count(*) AS n FROM deliveries GROUP BY 1")
    return dict.fromkeys(QUEUED_TYPES, 0.0) | {r["event_type"]: float(r["n"]) for r in rows}


def four_deliveries() -> list[CloudEvent[Any]]:
    """ep_a1 for the creation, ep_a1 and ep_a2 for the shipment, ep_b1 for shop B's shipment."""
    return [
        with_time(order_event("order.created", "o-1"), 0),
        with_time(order_event("order.shipped", "o-1"), 1),
        with_time(order_event("order.shipped", "o-3", shop_id=SHOP_B), 2),
    ]


@pytest.mark.parametrize("redone", [False, True], ids=["whole", "redone_event_by_event"])
async def test_deliveries_queued_counts_what_committed(runtime: ServiceRuntime, redone: bool) -> None:
    # The service's consumer queues the four deliveries (redone: after an event of an unknown shop
    # made the batch fall back to event by event), then the transaction's commit is refused (a
    # deferred trigger); Kafka hands the batch over again and it commits. Counted in the handler,
    # the refused pass counted too: eight for four rows.
    await seed(runtime)
    pool = runtime.db.pool
    await pool.execute(
        "CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'commit refused'; END $$;"
        " CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON deliveries"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit()"
    )
    unknown = with_time(order_event("order.paid", "o-9", shop_id=UNKNOWN_SHOP), 3)
    sink = RecordingSink()
    processor = EventProcessor(runtime.db, sink, "notify", attempts=2)
    consumer = orders_consumer(runtime)
    [batch] = records([[*four_deliveries(), unknown] if redone else four_deliveries()])
    before = queued_metric()
    with pytest.raises(asyncpg.RaiseError, match="commit refused"):
        await processor.process_batch(consumer, batch)
    assert await pool.fetchval("SELECT count(*) FROM deliveries") == 0
    assert counted_since(before) == dict.fromkeys(QUEUED_TYPES, 0.0)

    await pool.execute("DROP TRIGGER refuse_commit ON deliveries")
    await processor.process_batch(consumer, batch)  # the redelivery
    assert sink.letters == ([(3, "unprocessable: unknown shop 'shop-zz'")] if redone else [])
    committed = await committed_by_type(runtime)
    assert committed == {"order.created": 1.0, "order.paid": 0.0, "order.shipped": 3.0}
    assert counted_since(before) == committed
