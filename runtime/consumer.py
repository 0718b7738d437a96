"""Idempotent consumption of CloudEvents with dead letters.

For each record of a batch: pass over it if it names a known event type the consumer has no handler
for (without validating it: the consumers that handle that type dead-letter it if it is invalid);
else decode and validate (invalid → dead letter with the reason), then in one transaction record
the event id and apply the handler (a redelivered id has no second effect).
A batch is applied under one savepoint and redone event by event only when something in it raises.
A handler that keeps raising on one event dead-letters that event; a failure of Postgres or Kafka
itself NACKs the batch so it is redelivered once they are back. Offsets commit after the effects.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import asyncpg
from prometheus_client import Counter, Histogram

from runtime.db import Connection, Database
from runtime.metrics import counted_on_commit
from schemas.envelope import CloudEvent
from schemas.registry import InvalidEvent, decode_event, known_type_of

if TYPE_CHECKING:
    from aiokafka.structs import ConsumerRecord

log = logging.getLogger(__name__)

EVENTS_CONSUMED = Counter(
    "careloop_events_consumed_total",
    "Events consumed, by outcome",
    ["service", "consumer", "type", "outcome"],
)
DEAD_LETTERS = Counter(
    "careloop_dead_letters_total", "Events sent to a dead-letter topic", ["service", "consumer", "reason"]
)
HANDLE_SECONDS = Histogram(
    "careloop_event_handle_seconds",
    "Time to apply one event's effect, transaction included",
    ["service", "consumer"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
EVENT_AGE = Histogram(
    "careloop_event_age_seconds",
    "Event time to the moment its effect committed",
    ["service", "consumer"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

Handler = Callable[[CloudEvent[Any], Connection], Awaitable[None]]
BatchHandler = Callable[[Sequence[CloudEvent[Any]], Connection], Awaitable[None]]
"""Applies a run of fresh events (in record order, so per-key order holds) with as few round trips as
it can; it must have the same effect as the per-event handlers applied one after another."""


class DeadLetterSink(Protocol):
    async def dead_letter(self, record: ConsumerRecord[bytes, bytes], consumer: str, reason: str) -> None: ...


class Unprocessable(Exception):
    """A handler's way to say: this event can never be applied (e.g. unknown shop); dead-letter it now."""


INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.ConnectionDoesNotExistError,
)


Decoded = tuple["ConsumerRecord[bytes, bytes]", CloudEvent[Any], Handler]
"""A valid record, its event and the handler that applies it."""

Postponed = tuple["ConsumerRecord[bytes, bytes]", CloudEvent[Any], Exception | None]
"""An event held out of a batch's commit: the one whose handler raised (with its error), or a later
event of the same partition (None), which must not overtake it."""


@dataclass(frozen=True)
class Consumer:
    """One logical consumer: a name (the idempotency namespace) and a handler per event type."""

    name: str
    handlers: dict[str, Handler]
    """Known event types without a handler are passed over unvalidated (counted as 'ignored')."""
    batch_handler: BatchHandler | None = None
    """Optional fast path for a whole batch; `handlers` stay the reference and the fallback."""


class EventProcessor:
    def __init__(self, db: Database, sink: DeadLetterSink, service: str, attempts: int) -> None:
        self._db = db
        self._sink = sink
        self._service = service
        self._attempts = attempts

    async def process_batch(
        self, consumer: Consumer, records: tuple[ConsumerRecord[bytes, bytes], ...]
    ) -> None:
        """Apply a whole batch in one transaction: one bulk insert of the event ids, then every fresh
        event under a single savepoint (the consumer's batch handler if it has one, else its handlers
        one by one). Only if that raises is the batch redone with one savepoint per event, so one bad
        event costs its batch a second pass instead of costing every batch two round trips per event.
        An event that still raises is un-recorded with the rest of its partition; after the batch
        commits it is retried alone (then dead-lettered) before that rest is applied, so a transient
        failure never lets a later event of its key take effect first. Invalid bytes are
        dead-lettered at once."""
        valid = await self._decode_batch(consumer, records)
        if not valid:
            return
        postponed: list[Postponed] = []
        outcomes: list[tuple[CloudEvent[Any], str]] = []
        started = time.perf_counter()
        with counted_on_commit():
            async with self._db.transaction() as conn:
                to_apply = await self._fresh(consumer, valid, conn, outcomes)
                if to_apply and await self._apply_together(consumer, to_apply, conn):
                    outcomes.extend((event, "applied") for _, event, _ in to_apply)
                elif to_apply:
                    postponed = await self._apply_one_by_one(consumer, to_apply, conn, outcomes)
        self._observe(consumer, outcomes, (time.perf_counter() - started) / len(valid))
        if postponed:
            await self._apply_postponed(consumer, postponed)

    async def _decode_batch(
        self, consumer: Consumer, records: tuple[ConsumerRecord[bytes, bytes], ...]
    ) -> list[Decoded]:
        valid: list[Decoded] = []
        ignored: collections.Counter[str] = collections.Counter()
        for record in records:
            decoded = await self._decode(consumer, record, ignored)
            if decoded is not None:
                valid.append((record, *decoded))
        self._count_ignored(consumer, ignored)
        return valid

    async def _fresh(
        self,
        consumer: Consumer,
        valid: list[Decoded],
        conn: Connection,
        outcomes: list[tuple[CloudEvent[Any], str]],
    ) -> list[Decoded]:
        """Record the batch's event ids in one statement; the events seen for the first time."""
        fresh = {
            row["event_id"]
            for row in await conn.fetch(
                "INSERT INTO processed_events (consumer, event_id) SELECT $1, unnest($2::text[]) "
                "ON CONFLICT DO NOTHING RETURNING event_id",
                consumer.name,
                [event.id for _, event, _ in valid],
            )
        }
        to_apply: list[Decoded] = []
        for record, event, handler in valid:
            if event.id in fresh:
                fresh.discard(event.id)  # a second copy inside the same batch is a duplicate too
                to_apply.append((record, event, handler))
            else:
                outcomes.append((event, "duplicate"))
        return to_apply

    def _observe(
        self, consumer: Consumer, outcomes: list[tuple[CloudEvent[Any], str]], seconds_each: float
    ) -> None:
        committed_at = time.time()
        handle_seconds = HANDLE_SECONDS.labels(self._service, consumer.name)
        event_age = EVENT_AGE.labels(self._service, consumer.name)
        for event, outcome in outcomes:
            if outcome == "applied":
                handle_seconds.observe(seconds_each)
                event_age.observe(max(0.0, committed_at - event.time.timestamp()))
        for (event_type, outcome), count in collections.Counter((e.type, o) for e, o in outcomes).items():
            EVENTS_CONSUMED.labels(self._service, consumer.name, event_type, outcome).inc(count)

    async def _apply_together(
        self,
        consumer: Consumer,
        batch: list[Decoded],
        conn: Connection,
    ) -> bool:
        """The happy path: every event under one savepoint. False (and nothing applied) if one raised."""
        try:
            with counted_on_commit():
                async with conn.transaction():
                    if consumer.batch_handler is not None:
                        await consumer.batch_handler([event for _, event, _ in batch], conn)
                    else:
                        for _, event, handler in batch:
                            await handler(event, conn)
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:
            log.info("%s: batch of %d redone event by event: %r", consumer.name, len(batch), exc)
            return False
        return True

    async def _apply_one_by_one(
        self,
        consumer: Consumer,
        batch: list[Decoded],
        conn: Connection,
        outcomes: list[tuple[CloudEvent[Any], str]],
    ) -> list[Postponed]:
        """One savepoint per event. An event whose handler raises stops its partition (Kafka's unit
        of order, so its key's too): it and every later event of that partition are un-recorded and
        returned, to be applied in order after the batch commits; other partitions go on."""
        postponed: list[Postponed] = []
        stopped: set[tuple[str, int]] = set()
        for record, event, handler in batch:
            lane = (record.topic, record.partition)
            if lane in stopped:
                postponed.append((record, event, None))
                continue
            try:
                with counted_on_commit():
                    async with conn.transaction():
                        await handler(event, conn)
            except INFRASTRUCTURE_ERRORS:
                raise
            except Exception as exc:
                stopped.add(lane)
                postponed.append((record, event, exc))
                continue
            outcomes.append((event, "applied"))
        if postponed:
            await conn.execute(
                "DELETE FROM processed_events WHERE consumer = $1 AND event_id = ANY($2::text[])",
                consumer.name,
                [event.id for _, event, _ in postponed],
            )
        return postponed

    async def _apply_postponed(self, consumer: Consumer, postponed: list[Postponed]) -> None:
        """Per partition, in record order: the event that failed alone (retried, or dead-lettered
        when refused or when it keeps failing), then the rest of the partition as a batch again."""
        lanes: dict[tuple[str, int], list[Postponed]] = collections.defaultdict(list)
        for item in postponed:
            lanes[(item[0].topic, item[0].partition)].append(item)
        for (first_record, first_event, error), *rest in lanes.values():
            if isinstance(error, Unprocessable):
                reason = f"unprocessable: {error}"
                await self._dead_letter(consumer, first_record, reason, "unprocessable", first_event)
            else:
                await self.process(consumer, first_record)
            if rest:
                await self.process_batch(consumer, tuple(record for record, _, _ in rest))

    async def _decode(
        self, consumer: Consumer, record: ConsumerRecord[bytes, bytes], ignored: collections.Counter[str]
    ) -> tuple[CloudEvent[Any], Handler] | None:
        """The event and its handler; None if the consumer passes over it (counted in `ignored`) or it
        is invalid (dead-lettered here)."""
        raw = record.value or b""
        named = known_type_of(raw)
        handler = consumer.handlers.get(named) if named is not None else None
        if named is not None and handler is None:
            ignored[named] += 1
            return None
        try:
            event = decode_event(raw)
        except InvalidEvent as exc:
            await self._dead_letter(consumer, record, exc.reason, "invalid")
            return None
        assert handler is not None  # a valid event names a known type, so `named` was its type
        return event, handler

    def _count_ignored(self, consumer: Consumer, ignored: collections.Counter[str]) -> None:
        for event_type, count in ignored.items():
            EVENTS_CONSUMED.labels(self._service, consumer.name, event_type, "ignored").inc(count)

    async def process(self, consumer: Consumer, record: ConsumerRecord[bytes, bytes]) -> None:
        ignored: collections.Counter[str] = collections.Counter()
        decoded = await self._decode(consumer, record, ignored)
        self._count_ignored(consumer, ignored)
        if decoded is None:
            return
        event, handler = decoded
        for attempt in range(1, self._attempts + 1):
            try:
                applied = await self._apply_once(consumer, event, handler)
            except INFRASTRUCTURE_ERRORS:
                raise  # NACK: the batch comes back once Postgres/Kafka answer again
            except Unprocessable as exc:
                await self._dead_letter(consumer, record, f"unprocessable: {exc}", "unprocessable", event)
                return
            except Exception as exc:
                if attempt == self._attempts:
                    log.exception(
                        "%s: event %s failed %d times; dead-lettering", consumer.name, event.id, attempt
                    )
                    reason = f"handler failed {attempt} times: {type(exc).__name__}: {exc}"
                    await self._dead_letter(consumer, record, reason, "handler_error", event)
                    return
                await asyncio.sleep(0.05 * attempt)
                continue
            outcome = "applied" if applied else "duplicate"
            EVENTS_CONSUMED.labels(self._service, consumer.name, event.type, outcome).inc()
            return

    async def _apply_once(self, consumer: Consumer, event: CloudEvent[Any], handler: Handler) -> bool:
        with HANDLE_SECONDS.labels(self._service, consumer.name).time(), counted_on_commit():
            async with self._db.transaction() as conn:
                first_time = await conn.fetchval(
                    "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) "
                    "ON CONFLICT DO NOTHING RETURNING true",
                    consumer.name,
                    event.id,
                )
                if not first_time:
                    return False
                await handler(event, conn)
        EVENT_AGE.labels(self._service, consumer.name).observe(max(0.0, time.time() - event.time.timestamp()))
        return True

    async def _dead_letter(
        self,
        consumer: Consumer,
        record: ConsumerRecord[bytes, bytes],
        reason: str,
        reason_class: str,
        event: CloudEvent[Any] | None = None,
    ) -> None:
        log.warning(
            "%s: dead-lettering %s[%d]@%d: %s",
            consumer.name,
            record.topic,
            record.partition,
            record.offset,
            reason,
        )
        await self._sink.dead_letter(record, consumer.name, reason)
        async with self._db.transaction() as conn:
            await conn.execute(
                """INSERT INTO dead_letters
                       (consumer, topic, partition, "offset", event_id, event_type, reason, payload)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""",
                consumer.name,
                record.topic,
                record.partition,
                record.offset,
                event.id if event else None,
                event.type if event else None,
                reason,
                record.value or b"",
            )
        DEAD_LETTERS.labels(self._service, consumer.name, reason_class).inc()
