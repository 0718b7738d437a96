"""Transactional outbox: `enqueue` inside the caller's transaction; `OutboxRelay` ships rows to Kafka.

Chosen over faststream-outbox because that package's publish contract takes a SQLAlchemy session,
and CareLoop's state is written with asyncpg: the outbox row must join the same asyncpg transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import asyncpg
from prometheus_client import Counter, Gauge

from runtime.aio import wait_event
from runtime.consumer import DEAD_LETTERS
from runtime.db import Connection, Database
from runtime.kafka import Message, RecordRefused
from runtime.listen import listening
from schemas.envelope import CloudEvent
from schemas.registry import encode_event, known_type_of

log = logging.getLogger(__name__)

OUTBOX_PUBLISHED = Counter("careloop_outbox_published_total", "Outbox rows relayed to Kafka", ["service"])
OUTBOX_BACKLOG = Gauge("careloop_outbox_backlog", "Outbox rows not yet relayed", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "careloop_outbox_oldest_age_seconds", "Age of the oldest outbox row not yet relayed", ["service"]
)


class Publisher(Protocol):
    async def publish_each(self, messages: Sequence[Message]) -> list[BaseException | None]:
        """Send (topic, key, value, headers) in order; per record None once Kafka acknowledged it,
        else why not (`RecordRefused` for a record Kafka will never take)."""


class RelayIncomplete(Exception):
    """A relay round left rows behind that Kafka did not acknowledge; they go out in a later round."""


async def enqueue(conn: Connection, topic: str, event: CloudEvent[Any], key: str | None = None) -> None:
    """Write the event beside the state; it reaches Kafka only if the transaction commits."""
    await enqueue_many(conn, topic, [(event, key)])


async def enqueue_many(
    conn: Connection, topic: str, events: Sequence[tuple[CloudEvent[Any], str | None]]
) -> None:
    """`enqueue` for many (event, key) pairs in one statement (the rows and the relay's wake-up
    together); a None key means the event's subject."""
    if not events:
        return
    await conn.execute(
        "WITH queued AS (INSERT INTO outbox (event_id, topic, key, payload)"
        " SELECT e, $1, k, p FROM unnest($2::text[], $3::text[], $4::bytea[]) AS t(e, k, p))"
        " SELECT pg_notify('careloop_outbox', '')",
        topic,
        [event.id for event, _ in events],
        [key if key is not None else event.subject for event, key in events],
        [encode_event(event) for event, _ in events],
    )


RELAY_CONSUMER = "outbox-relay"
"""The name under which the relay's refused rows stand in dead_letters and its metric."""

RELAY_LOCK = "SELECT pg_try_advisory_xact_lock(hashtext('careloop-outbox-relay:' || current_schema()))"
"""One relay at a time per service (its schema's outbox): advisory locks are per database, and the
services share one, so a key without the schema would make every service's relay wait for the others."""


class OutboxRelay:
    """Relays committed outbox rows in id order. One relay per schema publishes at a time
    (a transaction-scoped advisory lock), so several replicas never reorder a key's events."""

    def __init__(
        self, db: Database, publisher: Publisher, service: str, batch_size: int, poll_seconds: float
    ):
        self._db = db
        self._publisher = publisher
        self._service = service
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._wakeup = asyncio.Event()

    async def relay_once(self) -> int:
        """One round: publish up to a batch of rows in id order, delete those Kafka acknowledged,
        dead-letter those it refuses for good, and raise `RelayIncomplete` if any other row failed.
        Returns how many rows left the outbox."""
        async with self._db.transaction() as conn:
            got_lock = await conn.fetchval(RELAY_LOCK)
            if not got_lock:
                return 0
            rows = await conn.fetch(
                "SELECT id, event_id, topic, key, payload, headers FROM outbox ORDER BY id LIMIT $1",
                self._batch_size,
            )
            if not rows:
                return 0
            outcomes = await self._publisher.publish_each(
                [(r["topic"], r["key"], bytes(r["payload"]), dict(r["headers"])) for r in rows]
            )
            acknowledged = [row["id"] for row, outcome in zip(rows, outcomes, strict=True) if outcome is None]
            refused = [
                (row, outcome)
                for row, outcome in zip(rows, outcomes, strict=True)
                if isinstance(outcome, RecordRefused)
            ]
            # By id list, not `id <= last`: a row with a lower id may commit after our read and must
            # stay for the next round instead of being deleted unsent.
            await conn.execute(
                "DELETE FROM outbox WHERE id = ANY($1::bigint[])",
                acknowledged + [row["id"] for row, _ in refused],
            )
            await self._dead_letter(conn, refused)
        OUTBOX_PUBLISHED.labels(self._service).inc(len(acknowledged))
        left = [
            outcome for outcome in outcomes if outcome is not None and not isinstance(outcome, RecordRefused)
        ]
        if left:
            raise RelayIncomplete(f"{len(left)} of {len(rows)} outbox rows not acknowledged: {left[0]!r}")
        return len(acknowledged) + len(refused)

    async def _dead_letter(
        self, conn: Connection, refused: list[tuple[asyncpg.Record, RecordRefused]]
    ) -> None:
        """Kafka will never take these rows: keep them with the reason, so they block nothing."""
        if not refused:
            return
        for row, reason in refused:
            log.error(
                "%s: outbox row of event %s refused by Kafka: %s", self._service, row["event_id"], reason
            )
        await conn.executemany(
            """INSERT INTO dead_letters
                   (consumer, topic, partition, "offset", event_id, event_type, reason, payload)
               VALUES ($1, $2, -1, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING""",
            [
                (
                    RELAY_CONSUMER,
                    row["topic"],
                    row["id"],
                    row["event_id"],
                    known_type_of(bytes(row["payload"])),
                    f"refused by Kafka: {reason}",
                    bytes(row["payload"]),
                )
                for row, reason in refused
            ],
        )
        DEAD_LETTERS.labels(self._service, RELAY_CONSUMER, "refused").inc(len(refused))

    async def measure_backlog(self) -> None:
        """Read backlog and oldest age from the table itself (on its own timer, not after a relay
        round), so a relay that cannot publish shows as a growing age instead of a stale zero."""
        async with self._db.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT count(*) AS n, extract(epoch FROM clock_timestamp() - min(created_at)) AS age"
                " FROM outbox"
            )
        assert row is not None
        OUTBOX_BACKLOG.labels(self._service).set(row["n"])
        OUTBOX_OLDEST_AGE.labels(self._service).set(float(row["age"] or 0.0))

    async def run(self) -> None:
        """Loop until cancelled: relay everything, then sleep until notified or the poll interval passes."""
        async with listening(self._db.pool, "careloop_outbox", self._wakeup):
            while True:
                try:
                    while await self.relay_once() == self._batch_size:
                        pass
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("outbox relay failed; retrying")
                    await asyncio.sleep(1.0)
                self._wakeup.clear()
                await wait_event(self._wakeup, self._poll_seconds)
