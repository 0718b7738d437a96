"""The outside evidence the soak's verdict rests on: the topics read back from Kafka, the services'
tables (read with the administrative login), their /metrics pages and the consumer groups' offsets.
Nothing here asks a service how it thinks it is doing."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from bench.soak_infra import Samples
from schemas import topics
from schemas.registry import InvalidEvent, decode_event, known_type_of

EVENT_TOPICS = (topics.TICKETS.name, topics.SLA.name, topics.SURVEYS.name, topics.NOTIFY.name)
"""What the services publish (orders and contacts are the soak's own, known by id)."""
DLQ_TOPICS = tuple(t.dlq for t in topics.ALL_TOPICS if t.consumers)


WEBHOOK_TYPES = frozenset(
    {
        "ticket.created",
        "ticket.solved",
        "ticket.replied",
        "ticket.reply_failed",
        "sla.warning",
        "sla.breached",
        "sla.escalated",
        "order.promise_breached",
        "survey.invited",
    }
)
"""What notify turns into webhooks besides order events (services/notify/bootstrap.py)."""
KEPT_TYPES = WEBHOOK_TYPES | {"sla.breached", "survey.answered"}
"""The events the checks look at one by one; the rest are only counted."""
KEY_FIELDS = ("ticket_id", "clock_id", "survey_id", "shop_id", "order_id", "promise", "repair_id")


@dataclass(frozen=True)
class Seen:
    """One event read back: its id, type and the data fields the checks key on."""

    id: str
    type: str
    data: dict[str, Any]


@dataclass
class TopicLog:
    """The services' topics read from the start up to the end offsets of each catch-up: the events the
    checks need, decoded and validated, and a count of every type."""

    bootstrap: str
    events: list[Seen] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    undecodable: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    """Records on each <topic>.dlq."""
    _positions: dict[TopicPartition, int] = field(default_factory=dict)

    async def catch_up(self, timeout: float = 180.0) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            await consumer._client.force_metadata_update()  # aiokafka has no public metadata refresh
            parts = [
                TopicPartition(name, p)
                for name in EVENT_TOPICS + DLQ_TOPICS
                for p in sorted(consumer.partitions_for_topic(name) or ())
            ]
            found = {tp.topic for tp in parts}
            if missing := [n for n in EVENT_TOPICS if n not in found]:
                raise RuntimeError(f"no partitions known for {missing}")
            consumer.assign(parts)
            end = await consumer.end_offsets(parts)
            for tp in parts:
                consumer.seek(tp, self._positions.get(tp, 0))
            deadline = time.monotonic() + timeout
            while any(self._positions.get(tp, 0) < end[tp] for tp in parts):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"reading the topics back took over {timeout:.0f}s")
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                for tp, records in batch.items():
                    for record in records:
                        if record.offset < end[tp]:
                            self._add(tp.topic, record.value or b"")
                            self._positions[tp] = record.offset + 1
        finally:
            await consumer.stop()

    def _add(self, topic: str, raw: bytes) -> None:
        if topic.endswith(".dlq"):
            self.dead_letters[topic] += 1
            return
        named = known_type_of(raw)
        self.counts[named or "(unknown)"] += 1
        if named is not None and named not in KEPT_TYPES:
            return
        try:
            event = decode_event(raw)
        except InvalidEvent:
            self.undecodable += 1
            return
        data = event.data.model_dump(mode="json", include=set(KEY_FIELDS))
        self.events.append(Seen(event.id, event.type, data))

    def of_type(self, *types: str) -> list[Seen]:
        return [e for e in self.events if e.type in types]


# -- tables ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tables:
    """The rows the checks compare against, at one instant."""

    tickets: set[str]
    contacts_filed: Counter[tuple[str, str]]
    breached_clocks: set[str]
    clocks: set[str]
    breached_promises: set[tuple[str, str, str, str]]
    sent_invitations: set[str]
    answers: dict[str, str]
    outbox: dict[str, int]
    dead_letters: dict[str, int]
    deliveries: dict[str, int]
    disabled_endpoints: int
    success_attempts: int
    """Attempts notify recorded as successful (a 2xx from the endpoint)."""
    deliveries_succeeding_twice: int


SERVICES = ("intake", "sla", "notify", "survey")


def promise_key(shop: str, order: str, kind: str, repair: str | None) -> tuple[str, str, str, str]:
    return (shop, order, kind, repair or "")


OUTBOX_STUCK_SECONDS = 5
"""An outbox row older than this at the end of a soak is one the relay did not ship."""


async def read_tables(database_url: str) -> Tables:
    conn = await asyncpg.connect(database_url, timeout=30)
    try:

        async def pairs(sql: str) -> dict[Any, Any]:
            return {r[0]: r[1] for r in await conn.fetch(sql)}

        filed: Counter[tuple[str, str]] = Counter()
        for r in await conn.fetch(
            "SELECT channel, channel_message_id, count(*) FROM intake.messages"
            " WHERE channel_message_id IS NOT NULL GROUP BY 1, 2"
        ):
            filed[(r[0], r[1])] = r[2]
        promises = {
            promise_key(r[0], r[1], r[2], r[3])
            for r in await conn.fetch(
                "SELECT shop_id, order_id, kind, repair_id FROM sla.promises WHERE breached_at IS NOT NULL"
            )
        }
        return Tables(
            tickets={r[0] for r in await conn.fetch("SELECT id FROM intake.tickets")},
            contacts_filed=filed,
            breached_clocks={
                r[0] for r in await conn.fetch("SELECT id FROM sla.clocks WHERE outcome = 'breached'")
            },
            clocks={r[0] for r in await conn.fetch("SELECT id FROM sla.clocks")},
            breached_promises=promises,
            sent_invitations={
                r[0]
                for r in await conn.fetch("SELECT survey_id FROM survey.invitations WHERE status = 'sent'")
            },
            answers=await pairs("SELECT survey_id, kind FROM survey.answers"),
            # Rows waiting longer than a relay round: the clock runs on after the drain (the survey
            # sweep keeps sending invitations as shop days pass), so new rows are work, not stuck.
            outbox={
                s: await conn.fetchval(
                    f"SELECT count(*) FROM {s}.outbox"  # noqa: S608
                    f" WHERE created_at < clock_timestamp() - interval '{OUTBOX_STUCK_SECONDS} seconds'"
                )
                for s in SERVICES
            },
            dead_letters={s: await conn.fetchval(f"SELECT count(*) FROM {s}.dead_letters") for s in SERVICES},  # noqa: S608
            deliveries=await pairs("SELECT status, count(*) FROM notify.deliveries GROUP BY 1"),
            disabled_endpoints=await conn.fetchval("SELECT count(*) FROM notify.endpoints WHERE NOT enabled"),
            success_attempts=await conn.fetchval(
                "SELECT count(*) FROM notify.attempts WHERE outcome = 'success'"
            ),
            deliveries_succeeding_twice=await conn.fetchval(
                "SELECT count(*) FROM (SELECT delivery_id FROM notify.attempts WHERE outcome = 'success'"
                " GROUP BY 1 HAVING count(*) > 1) twice"
            ),
        )
    finally:
        await conn.close()


async def wait_sessions_gone(database_url: str, role: str, timeout: float = 20.0) -> None:
    """A killed client's last COMMIT may still be in its server session's socket: wait until Postgres
    has closed every session of `role`, so nothing of the dead process commits afterwards."""
    deadline = time.monotonic() + timeout
    conn = await asyncpg.connect(database_url, timeout=30)
    try:
        while await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE usename = $1", role):
            if time.monotonic() > deadline:
                raise RuntimeError(f"sessions of {role} still open {timeout:.0f}s after the kill")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


# -- consumer lag from outside ---------------------------------------------------------------------
async def group_lag(bootstrap: str) -> dict[str, int]:
    """Records each consumer group has not committed yet, over every partition of the topics it
    committed on (a partition it never committed lags by all it holds)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    offsets = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await offsets.start()
    try:
        await offsets._client.force_metadata_update()  # aiokafka has no public metadata refresh
        lag: dict[str, int] = {}
        for group, _ in await admin.list_consumer_groups():
            committed = {
                tp: meta.offset
                for tp, meta in (await admin.list_consumer_group_offsets(group)).items()
                if meta.offset >= 0
            }
            names = {tp.topic for tp in committed}
            parts = [TopicPartition(n, p) for n in names for p in offsets.partitions_for_topic(n) or ()]
            if {tp.topic for tp in parts} != names:
                raise RuntimeError(f"no partitions known for some of {sorted(names)}")
            end = await offsets.end_offsets(parts) if parts else {}
            lag[group] = sum(max(0, end[tp] - committed.get(tp, 0)) for tp in parts)
        return lag
    finally:
        await offsets.stop()
        await admin.close()


def gauge_lag(samples: Samples) -> float:
    return sum(v for _, v in samples.get("careloop_consumer_lag_records", []))
