"""A suspended shop loses nothing: its events are held, not applied and not dropped.

In the consumer's transaction, after the event ids are recorded, `Holds.split` takes out the events of
a suspended shop (and of a shop that still has held events to release: a later event never overtakes
a held one) and keeps them in `held_events` with the reason. When the shop is resumed (its new state
arrives on shops.state) and on the sweep's timer, `release` applies each consumer's held events of the
shop in the order they were held, with the same consumer handler, deleting them in the same
transaction; an event the handler refuses (Unprocessable) or that keeps failing is dead-lettered then,
with the reason, as it would have been on arrival.

A shared advisory lock per (consumer, shop) taken by `split` and an exclusive one taken by `release`
order the two: a consumer that saw held rows holds its event too, and one that finds none applies it
after the release has committed. While no shop is suspended and no held row is left, `split` costs
nothing (no query).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

import asyncpg
from aiokafka.structs import ConsumerRecord
from prometheus_client import Counter, Gauge

from runtime.consumer import INFRASTRUCTURE_ERRORS, Consumer, Decoded, EventProcessor, Unprocessable
from runtime.db import Connection, Database
from runtime.metrics import counted_on_commit, on_commit
from runtime.shops import ShopRegistry
from schemas.envelope import CloudEvent
from schemas.registry import decode_event

log = logging.getLogger(__name__)

EVENTS_HELD = Counter(
    "careloop_events_held_total", "Events held because their shop is suspended", ["service", "consumer"]
)
EVENTS_RELEASED = Counter(
    "careloop_events_released_total",
    "Held events released after their shop was resumed, by outcome (applied or dead_lettered)",
    ["service", "consumer", "outcome"],
)
EVENTS_HELD_UNRELEASED = Gauge(
    "careloop_events_held_unreleased",
    "Held events of shops that are not suspended (resumed or gone), as the last sweep found them: "
    "the sweep releases them, so one that stays above 0 is a release that keeps failing",
    ["service"],
)

RELEASE_BATCH = 500
CHECK = """WITH locked AS MATERIALIZED (
               SELECT shop_id, pg_advisory_xact_lock_shared(
                   hashtextextended('careloop-held:' || current_schema() || ':' || $1 || ':' || shop_id, 0))
               FROM unnest($2::text[]) AS shop_id)
           SELECT shop_id FROM locked WHERE EXISTS
               (SELECT 1 FROM held_events h WHERE h.consumer = $1 AND h.shop_id = locked.shop_id)"""
"""The run's shops that have held events of the consumer, each under its shared lock."""
LOCK = """SELECT pg_advisory_xact_lock(
              hashtextextended('careloop-held:' || current_schema() || ':' || $1 || ':' || $2, 0))"""
"""The exclusive lock of (consumer $1, shop $2) a release takes."""

Refused = tuple[asyncpg.Record, CloudEvent[Any], str, str]
"""A held row the release dead-letters: its event, the reason and the reason's class."""


def shop_of(event: CloudEvent[Any]) -> str | None:
    shop_id = getattr(event.data, "shop_id", None)
    return shop_id if isinstance(shop_id, str) else None


def blocked_shops(
    decoded: Iterable[Decoded], suspended: frozenset[str], waiting: frozenset[str]
) -> frozenset[str]:
    """The shops of the run whose events are held: suspended, or with held events still waiting."""
    shops = {shop for _, event in decoded if (shop := shop_of(event)) is not None}
    return frozenset(shops & (suspended | waiting))


def reason_for(shop_id: str, suspended: frozenset[str]) -> str:
    if shop_id in suspended:
        return f"shop_suspended: shop {shop_id} is suspended; held until it is resumed"
    return f"shop_resuming: shop {shop_id} has held events still to apply; held behind them"


def record_of(row: asyncpg.Record) -> ConsumerRecord[bytes, bytes]:
    """The held event as the record it arrived in (what a dead letter keeps)."""
    payload = bytes(row["payload"])
    key = bytes(row["key"]) if row["key"] is not None else None
    return ConsumerRecord(
        row["topic"], row["partition"], row["offset"], 0, 0, key, payload, None, 0, len(payload), ()
    )


class Holds:
    """The runtime's gate (EventProcessor.gate) and the release of what it held."""

    def __init__(
        self, db: Database, registry: ShopRegistry, processor: EventProcessor, service: str, attempts: int
    ) -> None:
        self._db = db
        self._registry = registry
        self._processor = processor
        self._service = service
        self._attempts = attempts
        self.waiting = True
        """Whether held rows may exist in the schema (until the first sweep has looked, they may)."""

    async def split(
        self, consumer: Consumer, conn: Connection, decoded: list[Decoded]
    ) -> tuple[list[Decoded], list[Decoded]]:
        """(the events to apply now, the events held) of a run whose ids the transaction recorded."""
        suspended = self._registry.suspended()
        if not consumer.holds or not (suspended or self.waiting):
            return decoded, []
        shops = sorted({shop for _, event in decoded if (shop := shop_of(event)) is not None})
        if not shops:
            return decoded, []
        waiting = frozenset(row["shop_id"] for row in await conn.fetch(CHECK, consumer.name, shops))
        blocked = blocked_shops(decoded, suspended, waiting)
        if not blocked:
            return decoded, []
        held = [(record, event) for record, event in decoded if shop_of(event) in blocked]
        await conn.executemany(
            """INSERT INTO held_events (consumer, shop_id, event_id, event_type, topic, partition,
                                        "offset", key, payload, reason)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING""",
            [
                (
                    consumer.name,
                    shop_of(event),
                    event.id,
                    event.type,
                    record.topic,
                    record.partition,
                    record.offset,
                    record.key,
                    record.value or b"",
                    reason_for(shop_of(event) or "", suspended),
                )
                for record, event in held
            ],
        )
        self.waiting = True
        on_commit(partial(EVENTS_HELD.labels(self._service, consumer.name).inc, len(held)))
        return [item for item in decoded if shop_of(item[1]) not in blocked], held

    async def release(self, consumers: Iterable[Consumer], shop_id: str) -> None:
        """Apply every consumer's held events of `shop_id` in the order they were held, unless it is
        (again) suspended. Stops at an event that fails but may still succeed: the sweep retries."""
        self.waiting = True  # until the sweep has seen none left: new events must check for held ones
        for consumer in consumers:
            if consumer.holds:
                while await self._release_batch(consumer, shop_id):
                    pass

    async def sweep(self, consumers: Mapping[str, Consumer]) -> None:
        """Release what waits for a shop that is active (a resume seen while this process was down or
        a release that stopped), and learn whether anything is held at all."""
        async with self._db.pool.acquire() as conn:
            rows = await conn.fetch("SELECT consumer, shop_id, count(*) AS n FROM held_events GROUP BY 1, 2")
        self.waiting = bool(rows)
        unreleased = 0
        for row in rows:
            shop = self._registry.get(row["shop_id"])
            if shop is not None and shop.suspended:
                continue  # held by design until the shop is resumed
            unreleased += row["n"]
            consumer = consumers.get(row["consumer"])
            if consumer is not None and shop is not None:
                await self.release([consumer], shop.id)
        EVENTS_HELD_UNRELEASED.labels(self._service).set(unreleased)

    async def _release_batch(self, consumer: Consumer, shop_id: str) -> bool:
        """One batch, one transaction; True if it was full (there may be more)."""
        shop = self._registry.get(shop_id)
        if shop is None or shop.suspended:
            return False
        with counted_on_commit():
            async with self._db.transaction() as conn:
                await conn.execute(LOCK, consumer.name, shop_id)
                rows = await conn.fetch(
                    """SELECT id, event_id, topic, partition, "offset", key, payload, attempts
                       FROM held_events WHERE consumer = $1 AND shop_id = $2 ORDER BY id LIMIT $3""",
                    consumer.name,
                    shop_id,
                    RELEASE_BATCH,
                )
                if not rows:
                    return False
                applied, refused, stopped = await self._apply(consumer, conn, rows)
                for row, event, reason, reason_class in refused:
                    await self._processor.dead_letter(
                        conn, consumer, record_of(row), reason, reason_class, event
                    )
                gone = applied + [row["id"] for row, *_ in refused]
                await conn.execute("DELETE FROM held_events WHERE id = ANY($1::bigint[])", gone)
                released = EVENTS_RELEASED.labels(self._service, consumer.name, "applied")
                on_commit(partial(released.inc, len(applied)))
                dead = EVENTS_RELEASED.labels(self._service, consumer.name, "dead_lettered")
                on_commit(partial(dead.inc, len(refused)))
        return len(rows) == RELEASE_BATCH and not stopped

    async def _apply(
        self, consumer: Consumer, conn: Connection, rows: list[asyncpg.Record]
    ) -> tuple[list[int], list[Refused], bool]:
        """(the rows applied, the rows to dead-letter, whether it stopped at a failing one): the whole
        run under one savepoint, and only if that raises one by one."""
        events = [decode_event(bytes(row["payload"])) for row in rows]  # validated when they arrived
        if await _in_savepoint(consumer, conn, events) is None:
            return [row["id"] for row in rows], [], False
        applied: list[int] = []
        refused: list[Refused] = []
        for row, event in zip(rows, events, strict=True):
            error = await _in_savepoint(consumer, conn, [event])
            if error is None:
                applied.append(row["id"])
            elif isinstance(error, Unprocessable):
                refused.append((row, event, f"unprocessable: {error}", "unprocessable"))
                if error.counted is not None:
                    on_commit(error.counted)
            elif row["attempts"] + 1 >= self._attempts:
                reason = f"handler failed {row['attempts'] + 1} times: {type(error).__name__}: {error}"
                refused.append((row, event, reason, "handler_error"))
            else:
                log.warning("%s: held event %s failed on release: %r", consumer.name, event.id, error)
                await conn.execute("UPDATE held_events SET attempts = attempts + 1 WHERE id = $1", row["id"])
                return applied, refused, True
        return applied, refused, False


async def _in_savepoint(
    consumer: Consumer, conn: Connection, events: list[CloudEvent[Any]]
) -> Exception | None:
    try:
        with counted_on_commit():
            async with conn.transaction():
                await consumer.apply(events, conn)
    except INFRASTRUCTURE_ERRORS:
        raise
    except Exception as exc:
        return exc
    return None
