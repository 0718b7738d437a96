"""The orders consumer over Kafka-sized batches against the same records one batch each, over the
real Postgres.

The same Kafka batches go once record by record (each a batch of one, in its own transaction) and
once batch by batch through the consumer as services/sla/bootstrap.py builds it (the runtime redoes a
batch event by event when it raises); the promises, the outbox and the consumer's own tables must
end up the same. The batches: hand-made cases on stored promises (running, kept, already
breached by the sweep), several steps of one order inside one batch, late settlements, moved delivery
dates, repairs, cancellations, shops with their own ship-by terms and without, two shops with orders
of one id (each keeps its own promises), an unknown shop, duplicates inside and across batches; then two
shops' days of demo journeys cut into random batches."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from demo.journeys import JourneyMix, shop_day
from runtime.clock import ManualClock
from runtime.consumer import Consumer, EventProcessor
from runtime.db import Connection
from runtime.service import ServiceRuntime
from runtime.settings import Settings
from schemas.envelope import CloudEvent
from schemas.v1.sla import PromiseKind
from services.sla import bootstrap
from services.sla import repository as repo
from services.sla.domain.calendar_document import WEEK, CalendarDocument, OpeningSpan
from services.sla.domain.policies import DEFAULT_POLICIES
from services.sla.domain.promises import PromiseRecord, PromiseStatus, end_of_local_day, promise_id
from tests.sla.support import T0, customer, order_event
from tests.support.batches import RecordingSink, Watched, records, service_storage
from tests.support.shops import SHOP_A, SHOP_B

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
UNKNOWN_SHOP = "shop-zz"
TABLES = "promises, sla_policies, sla_calendars, outbox, processed_events, dead_letters"
PAID: dict[str, Any] = {"amount": Decimal("10.00"), "currency": "PLN"}
MIX = JourneyMix(cancelled=0.1, delayed=0.3, late_shipment=0.2, returned=0.05, repaired=0.25)
"""More of the journeys that open, move, break and cancel promises than the demo's everyday mix."""

Tables = dict[str, list[dict[str, Any]]]


@pytest.fixture
async def sla(pg_infra: Settings) -> AsyncIterator[ServiceRuntime]:
    async with service_storage(pg_infra, "sla", bootstrap.MIGRATIONS) as runtime:
        yield runtime


def shipped(order_id: str, at: Any, day: date, shop: str = SHOP_A) -> CloudEvent[Any]:
    return order_event(
        "order.shipped",
        order_id,
        at,
        shop=shop,
        carrier="InPost",
        tracking_number="T1",
        promised_delivery_date=day,
    )


def hand_made() -> list[list[CloudEvent[Any]]]:
    """Cases on the stored promises of `seed`, and whole journeys inside one batch."""
    first = order_event("order.paid", "o-cancel", T0, **PAID)
    return [
        [
            shipped("o-late", T0, date(2026, 1, 9)),  # its stored ship-by was due an hour ago: breached
            shipped("o-swept", T0, date(2026, 1, 9)),  # the sweep reported it already: no second event
            order_event("order.paid", "o-kept", T0 + 2 * HOUR, ship_by=T0 + 3 * HOUR, **PAID),  # stays kept
            order_event(
                "order.delayed", "o-moved", T0, reason="storm", new_promised_delivery_date=date(2026, 1, 12)
            ),
            order_event("order.delivered", "o-moved", T0 + 6 * DAY + HOUR, delivered_at=T0 + 6 * DAY),
            order_event("order.delayed", "o-moved", T0, reason="again, no new date"),
            order_event(
                "order.delayed",
                "o-early",
                T0,
                reason="before shipping",
                new_promised_delivery_date=date(2026, 1, 20),
            ),
            # shop B's own terms: 8 business hours of its calendar; then paid again with a ship-by of its own
            order_event("order.paid", "o-terms", T0, shop=SHOP_B, **PAID),
            order_event("order.paid", "o-twice", T0, shop=SHOP_B, **PAID),
            order_event("order.paid", "o-twice", T0 + HOUR, shop=SHOP_B, ship_by=T0 + 5 * HOUR, **PAID),
            shipped("o-twice", T0 + 6 * HOUR, date(2026, 1, 10), shop=SHOP_B),  # late against the new instant
            # order ids are per shop: shop B's o-shared is not shop A's, whose ship-by B's shipment
            # would have broken (and B's cancellation would have cancelled) if they were one order
            order_event("order.paid", "o-shared", T0, ship_by=T0 + HOUR, **PAID),
            order_event("order.paid", "o-shared", T0, shop=SHOP_B, ship_by=T0 + 3 * HOUR, **PAID),
            shipped("o-shared", T0 + 2 * HOUR, date(2026, 1, 9), shop=SHOP_B),
            order_event("order.cancelled", "o-shared", T0 + 2 * HOUR, shop=SHOP_B),
            order_event("repair.received", "o-rep", T0, repair_id="r-1", turnaround_days=1),
            order_event("repair.received", "o-rep", T0, repair_id="r-2", turnaround_days=3),
            order_event("repair.completed", "o-rep", T0 + 3 * DAY, repair_id="r-1"),  # late
            order_event("repair.completed", "o-rep", T0 + 2 * DAY, repair_id="r-2"),  # in time
            first,
            shipped("o-cancel", T0 + HOUR, date(2026, 1, 9)),
            order_event("order.cancelled", "o-cancel", T0 + 2 * HOUR),
            first,  # a duplicate inside the batch
        ],
        [
            first,  # and in a later batch
            order_event("order.paid", "o-next", T0, **PAID),
            order_event("order.paid", "o-x", T0, shop=UNKNOWN_SHOP, **PAID),  # dead-lettered
            shipped("o-next", T0 + HOUR, date(2026, 1, 9)),
        ],
    ]


def journeys(seed: int) -> list[list[CloudEvent[Any]]]:
    """Two shops' days of demo journeys in time order, a third of the payments without a ship-by of
    their own, now and then an event sent again, cut into batches of random size."""
    rng = random.Random(seed)
    scheduled = shop_day(rng, SHOP_A, T0, 40, mix=MIX) + shop_day(rng, SHOP_B, T0, 40, mix=MIX, locale="en")
    scheduled.sort(key=lambda s: s.due)
    events: list[CloudEvent[Any]] = []
    for n, item in enumerate(scheduled):
        event = item.event
        if event.type == "order.paid" and n % 3 == 0:
            event = event.model_copy(update={"data": event.data.model_copy(update={"ship_by": None})})
        events.append(event)
        if rng.random() < 0.03:
            events.append(rng.choice(events))
    batches = []
    while events:
        size = rng.randrange(1, 160)
        batches.append(events[:size])
        events = events[size:]
    return batches


async def seed(conn: Connection) -> None:
    await conn.execute(f"TRUNCATE {TABLES}")
    await repo.save_policies(
        conn, SHOP_B, DEFAULT_POLICIES.model_copy(update={"default_ship_by_business_hours": 8})
    )
    spans = [OpeningSpan(start="07:00", end="19:00")]
    calendar = CalendarDocument(timezone="Europe/London", weekly_hours=dict.fromkeys(WEEK[:6], spans))
    await repo.save_calendar(conn, SHOP_B, calendar)

    def stored(order_id: str, kind: PromiseKind, promised_at: Any, shop: str = SHOP_A) -> PromiseRecord:
        who = customer("c-seed").model_dump(mode="json", exclude_none=True)
        return PromiseRecord(
            promise_id(shop, order_id, kind), shop, order_id, kind, who, promised_at, PromiseStatus.RUNNING
        )

    for promise in (
        stored("o-late", PromiseKind.SHIP_BY, T0 - HOUR),
        stored("o-swept", PromiseKind.SHIP_BY, T0 - 2 * HOUR),
        stored("o-kept", PromiseKind.SHIP_BY, T0 + HOUR),
        stored("o-moved", PromiseKind.DELIVERY_DATE, T0 + 2 * HOUR),
        # shop B's orders of the same ids as shop A's: A's events above leave them as they are
        stored("o-late", PromiseKind.SHIP_BY, T0 - 3 * HOUR, SHOP_B),
        stored("o-moved", PromiseKind.DELIVERY_DATE, T0 + 2 * HOUR, SHOP_B),
    ):
        await repo.open_promise(conn, promise)
    await repo.breach_promises(conn, [promise_id(SHOP_A, "o-swept", PromiseKind.SHIP_BY)], T0 - HOUR)
    await repo.settle_promise(
        conn, promise_id(SHOP_A, "o-kept", PromiseKind.SHIP_BY), PromiseStatus.KEPT, T0, None
    )


def built_orders_consumer(settings: Settings) -> Consumer:
    """The orders consumer exactly as bootstrap.build wires it (nothing started), on a manual clock."""
    app = bootstrap.build(settings.for_service("sla"))
    app.runtime.clock = ManualClock(T0 + 30 * DAY)
    return app.runtime.consumers["sla-orders"]


async def snapshot(sla: ServiceRuntime) -> Tables:
    """The promises whole; the outbox without what every event gets afresh (its id and time)."""
    pool = sla.db.pool
    outbox = []
    for row in await pool.fetch("SELECT topic, key, payload FROM outbox ORDER BY id"):
        payload = json.loads(row["payload"])
        del payload["id"], payload["time"]
        outbox.append({"topic": row["topic"], "key": row["key"], "payload": payload})
    return {
        "promises": [dict(r) for r in await pool.fetch("SELECT * FROM promises ORDER BY id")],
        "outbox": outbox,
        "processed_events": [
            dict(r) for r in await pool.fetch("SELECT consumer, event_id FROM processed_events ORDER BY 1, 2")
        ],
        "dead_letters": [
            dict(r)
            for r in await pool.fetch(
                'SELECT consumer, "offset", event_id, event_type, reason FROM dead_letters ORDER BY "offset"'
            )
        ],
    }


async def run_both(
    sla: ServiceRuntime, consumer: Consumer, batches: list[list[CloudEvent[Any]]]
) -> tuple[Tables, Tables, list[str]]:
    """The tables after the batches record by record (each a batch of one), and after them batch by
    batch (with the calls)."""
    watched = Watched(consumer)
    batched = replace(consumer, apply=watched)
    chunks = records(batches)

    async with sla.db.transaction() as conn:
        await seed(conn)
    processor = EventProcessor(sla.db, RecordingSink(), "sla", attempts=2)
    for chunk in chunks:
        for record in chunk:
            await processor.process_batch(consumer, (record,))
    reference = await snapshot(sla)

    async with sla.db.transaction() as conn:
        await seed(conn)
    processor = EventProcessor(sla.db, RecordingSink(), "sla", attempts=2)
    for chunk in chunks:
        await processor.process_batch(batched, chunk)
    return reference, await snapshot(sla), watched.calls


async def test_hand_made_batches_end_as_their_events_one_by_one(
    sla: ServiceRuntime, pg_infra: Settings
) -> None:
    consumer = built_orders_consumer(pg_infra)
    reference, result, calls = await run_both(sla, consumer, hand_made())

    assert result == reference
    # the unknown shop's batch was redone event by event (a batch of one each, up to the refused one,
    # which stops its partition), and its events after the refused one applied as a batch once that
    # one was dead-lettered
    assert calls == ["ok", "Unprocessable", "ok", "Unprocessable", "ok"]
    # and the shared result is the one the rules give, so the comparison is not between two no-ops
    promises = {p["id"]: p for p in result["promises"]}
    states = {
        i: (p["status"], p["promised_at"], p["settled_at"], p["breached_at"]) for i, p in promises.items()
    }
    eod = end_of_local_day
    a, b = f"{SHOP_A}:", f"{SHOP_B}:"  # a promise's id starts with its shop's
    assert states == {
        a + "o-late:ship_by": ("breached", T0 - HOUR, T0, T0 - HOUR),
        a + "o-late:delivery_date": ("running", eod(date(2026, 1, 9), "Europe/Warsaw"), None, None),
        b + "o-late:ship_by": ("running", T0 - 3 * HOUR, None, None),  # shop A's shipment is not B's
        a + "o-swept:ship_by": ("breached", T0 - 2 * HOUR, None, T0 - HOUR),
        a + "o-swept:delivery_date": ("running", eod(date(2026, 1, 9), "Europe/Warsaw"), None, None),
        a + "o-kept:ship_by": ("kept", T0 + HOUR, T0, None),
        a + "o-moved:delivery_date": (
            "breached",
            eod(date(2026, 1, 12), "Europe/Warsaw"),
            T0 + 6 * DAY,
            eod(date(2026, 1, 12), "Europe/Warsaw"),
        ),
        b + "o-moved:delivery_date": ("running", T0 + 2 * HOUR, None, None),  # neither moved nor settled
        b + "o-twice:ship_by": ("breached", T0 + 5 * HOUR, T0 + 6 * HOUR, T0 + 5 * HOUR),
        b + "o-twice:delivery_date": ("running", eod(date(2026, 1, 10), "Europe/London"), None, None),
        a + "o-shared:ship_by": ("running", T0 + HOUR, None, None),  # B's shipment and cancellation: B's
        b + "o-shared:ship_by": ("kept", T0 + 3 * HOUR, T0 + 2 * HOUR, None),
        b + "o-shared:delivery_date": (
            "cancelled",
            eod(date(2026, 1, 9), "Europe/London"),
            T0 + 2 * HOUR,
            None,
        ),
        a + "o-rep:repair_turnaround:r-1": (
            "breached",
            eod(date(2026, 1, 8), "Europe/Warsaw"),
            T0 + 3 * DAY,
            eod(date(2026, 1, 8), "Europe/Warsaw"),
        ),
        a + "o-rep:repair_turnaround:r-2": (
            "kept",
            eod(date(2026, 1, 10), "Europe/Warsaw"),
            T0 + 2 * DAY,
            None,
        ),
        a + "o-cancel:ship_by": ("kept", T0 + 8 * DAY, T0 + HOUR, None),  # 48 business hours: six workdays
        a + "o-cancel:delivery_date": (
            "cancelled",
            eod(date(2026, 1, 9), "Europe/Warsaw"),
            T0 + 2 * HOUR,
            None,
        ),
        a + "o-next:ship_by": ("kept", T0 + 8 * DAY, T0 + HOUR, None),
        b + "o-terms:ship_by": ("running", T0 + 8 * HOUR, None, None),  # 09:00 + 8 h of 07:00-19:00 London
        a + "o-next:delivery_date": ("running", eod(date(2026, 1, 9), "Europe/Warsaw"), None, None),
    }
    assert all(p["id"].startswith(p["shop_id"] + ":") for p in promises.values())
    breached = [
        (o["key"], o["payload"]["data"]["shop_id"], o["payload"]["data"]["promise"]) for o in result["outbox"]
    ]
    assert breached == [
        ("o-late", SHOP_A, "ship_by"),
        ("o-moved", SHOP_A, "delivery_date"),
        ("o-twice", SHOP_B, "ship_by"),
        ("o-rep", SHOP_A, "repair_turnaround"),
    ]
    assert [(r["offset"], r["reason"]) for r in result["dead_letters"]] == [
        (25, "unprocessable: unknown shop shop-zz")
    ]


async def test_two_shops_orders_of_one_id_keep_their_own_promises_on_both_paths(
    sla: ServiceRuntime, pg_infra: Settings
) -> None:
    """Order numbers are per shop: both shops' order 1001 is paid, and every later event is shop B's.
    Shop A's ship-by must stay running, on the per-event path (the reference) and the batch path, with
    the events in one batch and one event per batch."""
    consumer = built_orders_consumer(pg_infra)
    events = [
        order_event("order.paid", "1001", T0, ship_by=T0 + HOUR, **PAID),
        order_event("order.paid", "1001", T0, shop=SHOP_B, ship_by=T0 + 4 * HOUR, **PAID),
        shipped("1001", T0 + 2 * HOUR, date(2026, 1, 9), shop=SHOP_B),  # too late for A's, in time for B's
        order_event(
            "order.delayed",
            "1001",
            T0 + 3 * HOUR,
            shop=SHOP_B,
            reason="x",
            new_promised_delivery_date=date(2026, 1, 12),
        ),
        order_event("order.delivered", "1001", T0 + 5 * DAY, shop=SHOP_B, delivered_at=T0 + 5 * DAY),
        order_event("repair.received", "1001", T0 + 6 * DAY, shop=SHOP_B, repair_id="r-1", turnaround_days=1),
        order_event("order.cancelled", "1001", T0 + 6 * DAY, shop=SHOP_B),
    ]
    london = "Europe/London"
    expected = {
        (SHOP_A, "ship_by"): ("running", T0 + HOUR, None),
        (SHOP_B, "ship_by"): ("kept", T0 + 4 * HOUR, T0 + 2 * HOUR),
        (SHOP_B, "delivery_date"): ("kept", end_of_local_day(date(2026, 1, 12), london), T0 + 5 * DAY),
        (SHOP_B, "repair_turnaround"): (
            "cancelled",
            end_of_local_day(date(2026, 1, 14), london),
            T0 + 6 * DAY,
        ),
    }
    for batches in ([events], [[e] for e in events]):
        reference, result, calls = await run_both(sla, consumer, batches)
        assert set(calls) == {"ok"}
        for tables in (reference, result):
            found = {
                (p["shop_id"], p["kind"]): (p["status"], p["promised_at"], p["settled_at"])
                for p in tables["promises"]
                if p["order_id"] == "1001"
            }
            assert found == expected
            assert tables["outbox"] == []  # nothing of shop A's was settled late


async def test_the_locks_read_only_the_named_shops_orders(sla: ServiceRuntime) -> None:
    async with sla.db.transaction() as conn:
        await seed(conn)  # shop A and shop B each have an o-late and an o-moved
        batch = await repo.lock_promises(conn, [(SHOP_B, "o-late"), (SHOP_A, "o-moved"), (SHOP_B, "none")])
        assert [(s.promise.shop_id, s.promise.order_id) for s in batch] == [
            (SHOP_A, "o-moved"),
            (SHOP_B, "o-late"),
        ]
        running = await repo.lock_running_promises(conn, SHOP_A, "o-late")
        assert [(p.shop_id, p.order_id, p.kind) for p in running] == [(SHOP_A, "o-late", PromiseKind.SHIP_BY)]


@pytest.mark.parametrize("seed_", [5, 6])
async def test_demo_journeys_end_the_same_batch_by_batch_as_one_by_one(
    sla: ServiceRuntime, pg_infra: Settings, seed_: int
) -> None:
    consumer = built_orders_consumer(pg_infra)
    batches = journeys(seed_)
    paid_and_shipped_together = [
        batch
        for batch in batches
        if {e.subject for e in batch if e.type == "order.paid"}
        & {e.subject for e in batch if e.type == "order.shipped"}
    ]
    assert paid_and_shipped_together  # an order's promise opened and settled inside one batch

    reference, result, calls = await run_both(sla, consumer, batches)

    assert result == reference
    assert set(calls) == {"ok"}  # every batch took the fast path
    # the demo cancels orders before payment only, so no promise of theirs is ever cancelled
    assert {p["status"] for p in result["promises"]} == {"running", "kept", "breached"}
    kinds = {o["payload"]["data"]["promise"] for o in result["outbox"]}
    assert kinds >= {"ship_by", "repair_turnaround"}
    assert result["dead_letters"] == []
