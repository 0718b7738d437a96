"""The erasure rule on the runtime's consumer path over the real Postgres (runtime/erasure.py): an
event naming an erased customer is applied without their personal fields and counted; an erasure
and a batch of its shop exclude each other; a privacy request is answered through the outbox once,
however often it is delivered, and a service's dead letters about the customer lose their bytes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from runtime.binding import each
from runtime.consumer import EventProcessor
from runtime.db import Connection
from runtime.erasure import SUPPRESSED, PrivacyPart, erased_among, guarded, lock_shop, privacy_consumer
from runtime.privacy import ExportRows, IdentityKind, Subject, digest, event_digests
from runtime.settings import Settings
from schemas.envelope import CloudEvent
from schemas.registry import decode_event, encode_event, make_event
from schemas.v1.common import Customer
from schemas.v1.orders import OrderCreated
from schemas.v1.privacy import PrivacyKind, PrivacyRequested
from tests.runtime.probe import MIGRATIONS
from tests.support.batches import RecordingSink, record, service_storage

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EMAIL = "anna.erased@example.com"


def order(order_id: str, shop: str = "shop-a", email: str = EMAIL, customer: str = "c-42") -> CloudEvent[Any]:
    who = Customer(id=customer, email=email, name="Anna Erased")
    data = OrderCreated(shop_id=shop, order_id=order_id, customer=who, total=Decimal(1), currency="PLN")
    return make_event("order.created", "shop", data, subject=order_id)


def request(kind: PrivacyKind = PrivacyKind.ERASURE) -> CloudEvent[Any]:
    data = PrivacyRequested(
        request_id="prv_test",
        shop_id="shop-a",
        kind=kind,
        customer_ids=["c-42"],
        emails=[EMAIL],
        requested_at=AT,
    )
    return make_event("privacy.requested", "careloop/intake", data, subject="prv_test")


async def keep(events: Sequence[CloudEvent[Any]], conn: Connection) -> None:
    for event in events:
        await conn.execute("INSERT INTO seen (order_id, times) VALUES ($1, 1)", event.data.model_dump_json())


async def stored(conn: Connection) -> list[dict[str, Any]]:
    return [
        json.loads(r["order_id"]) for r in await conn.fetch("SELECT order_id FROM seen ORDER BY order_id")
    ]


@pytest.fixture
async def storage(pg_infra: Settings) -> Any:
    async with service_storage(pg_infra, "probe", MIGRATIONS) as runtime:
        yield runtime


class Held:
    """A service part that erases nothing of its own and exports one row."""

    async def erase(self, conn: Connection, subject: Subject) -> dict[str, int]:
        return {"seen": 0}

    async def export(self, conn: Connection, subject: Subject) -> ExportRows:
        return {"seen": [{"customer": subject.customer_ids[0]}]}


async def test_an_event_about_an_erased_customer_is_kept_without_its_personal_fields(storage: Any) -> None:
    db = storage.db
    processor = EventProcessor(db, RecordingSink(), "probe", attempts=1)
    consumer = guarded(each("probe-orders", None, {"order.created": lambda e, c, _: keep([e], c)}), "probe")
    part = Held()
    privacy = privacy_consumer(
        "probe-privacy", PrivacyPart("probe", "privacy.events", part.erase, part.export, lambda: AT)
    )
    suppressed = SUPPRESSED.labels("probe", "probe-orders", "order.created")
    before = suppressed._value.get()

    await processor.process_batch(consumer, (record(0, encode_event(order("o-before"))),))
    # the same request twice: applied once, answered once
    asked = encode_event(request())
    await processor.process_batch(privacy, (record(1, asked),))
    await processor.process_batch(privacy, (record(2, asked),))
    await processor.process_batch(
        consumer,
        (
            record(3, encode_event(order("o-after"))),
            record(4, encode_event(order("o-other", email="b@example.com", customer="c-7"))),
        ),
    )

    async with db.pool.acquire() as conn:
        rows = {row["order_id"]: row for row in await stored(conn)}
        outbox = [decode_event(bytes(r["payload"])) for r in await conn.fetch("SELECT payload FROM outbox")]
        erased = await conn.fetch("SELECT kind FROM erased_customers ORDER BY kind")
    assert rows["o-before"]["customer"]["email"] == EMAIL  # the probe's own rows are its part to erase
    after = rows["o-after"]["customer"]
    assert after["email"] is None
    assert after["name"] is None
    assert after["id"].startswith("erased:")
    assert rows["o-other"]["customer"]["name"] == "Anna Erased"  # another customer (same name) untouched
    assert suppressed._value.get() - before == 1
    assert [e.type for e in outbox] == ["privacy.completed"]
    assert outbox[0].data.counts == {"seen": 0, "dead_letters": 0}
    assert outbox[0].data.status == "nothing_held"
    assert sorted(r["kind"] for r in erased) == ["customer", "email"]


async def test_an_export_answers_with_the_rows_and_remembers_nothing(storage: Any) -> None:
    processor = EventProcessor(storage.db, RecordingSink(), "probe", attempts=1)
    part = Held()
    privacy = privacy_consumer(
        "probe-privacy", PrivacyPart("probe", "privacy.events", part.erase, part.export, lambda: AT)
    )
    await processor.process_batch(privacy, (record(0, encode_event(request(PrivacyKind.EXPORT))),))
    async with storage.db.pool.acquire() as conn:
        outbox = [decode_event(bytes(r["payload"])) for r in await conn.fetch("SELECT payload FROM outbox")]
        assert await conn.fetchval("SELECT count(*) FROM erased_customers") == 0
    assert outbox[0].data.data == {"seen": [{"customer": "c-42"}]}
    assert outbox[0].data.status == "complete"


async def test_dead_letters_about_the_customer_lose_their_bytes(storage: Any) -> None:
    processor = EventProcessor(storage.db, RecordingSink(), "probe", attempts=1)
    async with storage.db.transaction() as conn:
        for offset, event in enumerate(
            (order("o-1"), order("o-2", email="b@example.com"), order("o-3", shop="shop-b"))
        ):
            await conn.execute(
                """INSERT INTO dead_letters (consumer, topic, partition, "offset", reason, payload)
                   VALUES ('probe-orders', 'orders', 0, $1, 'boom', $2)""",
                offset,
                encode_event(event),
            )
    part = Held()
    privacy = privacy_consumer(
        "probe-privacy", PrivacyPart("probe", "privacy.events", part.erase, part.export, lambda: AT)
    )
    await processor.process_batch(privacy, (record(0, encode_event(request())),))
    async with storage.db.pool.acquire() as conn:
        letters = await conn.fetch('SELECT "offset", payload, reason FROM dead_letters ORDER BY "offset"')
    assert bytes(letters[0]["payload"]) == b""
    assert "prv_test" in letters[0]["reason"]
    assert EMAIL.encode() not in bytes(letters[0]["payload"])
    assert b"b@example.com" in bytes(letters[1]["payload"])  # someone else
    assert EMAIL.encode() in bytes(letters[2]["payload"])  # the same address in another shop


async def test_a_batch_waits_for_an_erasure_of_its_shop_and_then_sees_it(storage: Any) -> None:
    db = storage.db
    wanted = [("shop-a", d) for d in event_digests("shop-a", order("o-1").data)]
    erasure_has_lock = asyncio.Event()
    release = asyncio.Event()

    async def erasure() -> None:
        async with db.transaction() as conn:
            await lock_shop(conn, "shop-a")
            erasure_has_lock.set()
            await release.wait()
            await conn.execute(
                "INSERT INTO erased_customers VALUES ('shop-a', $1, 'email', 'prv_x', now())",
                digest("shop-a", IdentityKind.EMAIL, EMAIL),
            )

    async def batch() -> set[tuple[str, str]]:
        async with db.transaction() as conn:
            return await erased_among(conn, wanted)

    erasing = asyncio.create_task(erasure())
    await erasure_has_lock.wait()
    looking = asyncio.create_task(batch())
    await asyncio.sleep(0.3)
    assert not looking.done()  # held back while the erasure runs
    release.set()
    await erasing
    found = await looking
    assert ("shop-a", digest("shop-a", IdentityKind.EMAIL, EMAIL)) in found
    async with db.transaction() as conn:  # an erasure never holds back another shop's batches
        await lock_shop(conn, "shop-a")
        async with db.transaction() as second:
            assert await asyncio.wait_for(erased_among(second, [("shop-b", "x")]), 5) == set()
