"""Idempotent consumption of CloudEvents with dead letters.

For each record of a batch: pass over it if it names a known event type the consumer does not apply
(without validating it: the consumers that apply that type dead-letter it if it is invalid); else
decode and validate (invalid → dead letter with the reason), then in one transaction record the
event ids and apply the consumer's one batch handler (a redelivered id has no second effect).
A single event is a batch of one: there is no second path. A batch is redone event by event only
when something in it raises; an event that keeps raising is dead-lettered; a failure of Postgres or
Kafka itself NACKs the batch so it is redelivered once they are back. Offsets commit after the effects.
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
from runtime.metrics import Update, counted_on_commit, on_commit
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

BatchHandler = Callable[[Sequence[CloudEvent[Any]], Connection], Awaitable[None]]
"""Applies a run of fresh events of the consumer's types, in record order (so per-key order holds),
with as few round trips as it can. Raising rolls back the whole run."""


class DeadLetterSink(Protocol):
    async def dead_letter(self, record: ConsumerRecord[bytes, bytes], consumer: str, reason: str) -> None: ...


class Gate(Protocol):
    async def split(
        self, consumer: Consumer, conn: Connection, decoded: list[Decoded]
    ) -> tuple[list[Decoded], list[Decoded]]:
        """(the events to apply now, the events it holds back) of a run recorded in `conn`'s
        transaction (runtime/holds.py: the events of a suspended shop)."""


class Unprocessable(Exception):
    """A handler's way to say: this event can never be applied (e.g. unknown shop); dead-letter it now.

    `counted` is the service's own count of the refusal: the runtime makes it once, when it
    dead-letters the event (a handler may raise more than once for one event while a batch is redone)."""

    def __init__(self, reason: str, *, counted: Update | None = None) -> None:
        super().__init__(reason)
        self.counted = counted


INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.ConnectionDoesNotExistError,
)


Decoded = tuple["ConsumerRecord[bytes, bytes]", CloudEvent[Any]]
"""A valid record and its event."""

Postponed = tuple["ConsumerRecord[bytes, bytes]", CloudEvent[Any], Exception | None]
"""An event held out of a batch's commit: the one whose handler raised (with its error), or a later
event of the same partition (None), which must not overtake it."""


@dataclass(frozen=True)
class Consumer:
    """One logical consumer: a name (the idempotency namespace), the event types it applies and the
    one handler that applies them. Built with `runtime.binding`."""

    name: str
    types: frozenset[str]
    """Known event types outside this set are passed over unvalidated (counted as 'ignored')."""
    apply: BatchHandler
    holds: bool = True
    """Whether the events of a suspended shop wait for it (runtime/holds.py); a consumer that must
    take them anyway (the audit log) says False."""


class EventProcessor:
    def __init__(self, db: Database, sink: DeadLetterSink, service: str, attempts: int) -> None:
        self._db = db
        self._sink = sink
        self._service = service
        self._attempts = attempts
        self.gate: Gate | None = None

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
                if self.gate is not None:
                    to_apply, held = await self.gate.split(consumer, conn, to_apply)
                    outcomes.extend((event, "held") for _, event in held)
                refused = await self._in_savepoint(consumer, to_apply, conn) if to_apply else None
                if refused is None:
                    outcomes.extend((event, "applied") for _, event in to_apply)
                elif len(to_apply) == 1:
                    postponed = await self._postpone(consumer, [(*to_apply[0], refused)], conn)
                else:
                    log.info(
                        "%s: batch of %d redone event by event: %r", consumer.name, len(to_apply), refused
                    )
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
            event = await self._decode(consumer, record, ignored)
            if event is not None:
                valid.append((record, event))
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
                [event.id for _, event in valid],
            )
        }
        to_apply: list[Decoded] = []
        for record, event in valid:
            if event.id in fresh:
                fresh.discard(event.id)  # a second copy inside the same batch is a duplicate too
                to_apply.append((record, event))
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

    async def _in_savepoint(
        self, consumer: Consumer, batch: list[Decoded], conn: Connection
    ) -> Exception | None:
        """Apply the events under one savepoint; what the handler raised (and nothing applied), or None."""
        try:
            with counted_on_commit():
                async with conn.transaction():
                    await consumer.apply([event for _, event in batch], conn)
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:
            return exc
        return None

    async def _apply_one_by_one(
        self,
        consumer: Consumer,
        batch: list[Decoded],
        conn: Connection,
        outcomes: list[tuple[CloudEvent[Any], str]],
    ) -> list[Postponed]:
        """A batch of one per event, each under its savepoint. An event that raises stops its
        partition (Kafka's unit of order, so its key's too): it and every later event of that
        partition are postponed; other partitions go on."""
        held: list[Postponed] = []
        stopped: set[tuple[str, int]] = set()
        for record, event in batch:
            lane = (record.topic, record.partition)
            error = None if lane in stopped else await self._in_savepoint(consumer, [(record, event)], conn)
            if lane in stopped or error is not None:
                stopped.add(lane)
                held.append((record, event, error))
            else:
                outcomes.append((event, "applied"))
        return await self._postpone(consumer, held, conn)

    async def _postpone(self, consumer: Consumer, held: list[Postponed], conn: Connection) -> list[Postponed]:
        """Un-record the held events' ids, so they are applied, in order, after the batch commits."""
        if held:
            await conn.execute(
                "DELETE FROM processed_events WHERE consumer = $1 AND event_id = ANY($2::text[])",
                consumer.name,
                [event.id for _, event, _ in held],
            )
        return held

    async def _apply_postponed(self, consumer: Consumer, postponed: list[Postponed]) -> None:
        """Per partition, in record order: the event that failed alone (retried, or dead-lettered
        when refused or when it keeps failing), then the rest of the partition as a batch again."""
        lanes: dict[tuple[str, int], list[Postponed]] = collections.defaultdict(list)
        for item in postponed:
            lanes[(item[0].topic, item[0].partition)].append(item)
        for (first_record, first_event, error), *rest in lanes.values():
            if isinstance(error, Unprocessable):
                await self._refuse(consumer, first_record, first_event, error)
            else:
                await self.process(consumer, first_record)
            if rest:
                await self.process_batch(consumer, tuple(record for record, _, _ in rest))

    async def _decode(
        self, consumer: Consumer, record: ConsumerRecord[bytes, bytes], ignored: collections.Counter[str]
    ) -> CloudEvent[Any] | None:
        """The event; None if the consumer passes over it (counted in `ignored`) or it is invalid
        (dead-lettered here)."""
        raw = record.value or b""
        named = known_type_of(raw)
        if named is not None and named not in consumer.types:
            ignored[named] += 1
            return None
        try:
            return decode_event(raw)
        except InvalidEvent as exc:
            await self._dead_letter(consumer, record, exc.reason, "invalid")
            return None

    def _count_ignored(self, consumer: Consumer, ignored: collections.Counter[str]) -> None:
        for event_type, count in ignored.items():
            EVENTS_CONSUMED.labels(self._service, consumer.name, event_type, "ignored").inc(count)

    async def process(self, consumer: Consumer, record: ConsumerRecord[bytes, bytes]) -> None:
        ignored: collections.Counter[str] = collections.Counter()
        event = await self._decode(consumer, record, ignored)
        self._count_ignored(consumer, ignored)
        if event is None:
            return
        for attempt in range(1, self._attempts + 1):
            try:
                outcome = await self._apply_once(consumer, record, event)
            except INFRASTRUCTURE_ERRORS:
                raise  # NACK: the batch comes back once Postgres/Kafka answer again
            except Unprocessable as exc:
                await self._refuse(consumer, record, event, exc)
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
            EVENTS_CONSUMED.labels(self._service, consumer.name, event.type, outcome).inc()
            return

    async def _apply_once(
        self, consumer: Consumer, record: ConsumerRecord[bytes, bytes], event: CloudEvent[Any]
    ) -> str:
        with HANDLE_SECONDS.labels(self._service, consumer.name).time(), counted_on_commit():
            async with self._db.transaction() as conn:
                first_time = await conn.fetchval(
                    "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) "
                    "ON CONFLICT DO NOTHING RETURNING true",
                    consumer.name,
                    event.id,
                )
                if not first_time:
                    return "duplicate"
                if self.gate is not None and (await self.gate.split(consumer, conn, [(record, event)]))[1]:
                    return "held"
                await consumer.apply([event], conn)
        EVENT_AGE.labels(self._service, consumer.name).observe(max(0.0, time.time() - event.time.timestamp()))
        return "applied"

    async def _refuse(
        self,
        consumer: Consumer,
        record: ConsumerRecord[bytes, bytes],
        event: CloudEvent[Any],
        refusal: Unprocessable,
    ) -> None:
        await self._dead_letter(consumer, record, f"unprocessable: {refusal}", "unprocessable", event)
        if refusal.counted is not None:
            refusal.counted()

    async def _dead_letter(
        self,
        consumer: Consumer,
        record: ConsumerRecord[bytes, bytes],
        reason: str,
        reason_class: str,
        event: CloudEvent[Any] | None = None,
    ) -> None:
        async with self._db.transaction() as conn:
            await self.dead_letter(conn, consumer, record, reason, reason_class, event)

    async def dead_letter(
        self,
        conn: Connection,
        consumer: Consumer,
        record: ConsumerRecord[bytes, bytes],
        reason: str,
        reason_class: str,
        event: CloudEvent[Any] | None = None,
    ) -> None:
        """To `<topic>.dlq` and the `dead_letters` table (in `conn`'s transaction), counted once it
        commits."""
        log.warning(
            "%s: dead-lettering %s[%d]@%d: %s",
            consumer.name,
            record.topic,
            record.partition,
            record.offset,
            reason,
        )
        await self._sink.dead_letter(record, consumer.name, reason)
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
        on_commit(DEAD_LETTERS.labels(self._service, consumer.name, reason_class).inc)
