"""Every service follows `shops.state`, the compacted topic intake's operator API publishes each shop's
whole state on, into its own `shop_states` table and its in-memory `ShopRegistry`.

Why a compacted topic and not a table every service reads: the services share no table (each owns its
schema), a request must not wait on another service's database, and the topic already keeps each
shop's latest record forever. Each process reads it from the start (no consumer group: every replica
needs every shop) and keeps following, so a change reaches every replica of every service within a
poll. The table keeps what was read, so a restart knows the shops before the topic is read again; the
JSON file (CARELOOP_SHOPS_FILE) seeds the registry before both (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, TopicPartition

from runtime.consumer import DeadLetterSink
from runtime.db import Connection, Database
from runtime.settings import Settings
from runtime.shops import Shop, ShopRegistry
from schemas.registry import InvalidEvent, decode_event
from schemas.topics import SHOPS
from schemas.v1.shops import ShopState

if TYPE_CHECKING:
    from aiokafka.structs import ConsumerRecord

log = logging.getLogger(__name__)

FOLLOWER = "shops-state"
"""The name the follower's dead letters carry."""
POLL_MS = 500
RETRY_SECONDS = 1.0

OnChange = Callable[[Shop], Awaitable[None]]


def advancing(known: Mapping[str, int], states: Iterable[ShopState]) -> dict[str, ShopState]:
    """The states that move a shop forward: per shop the highest version, if higher than `known`'s
    (shop id -> version). Order-free and idempotent: a record read twice, late or out of order never
    takes a shop back."""
    best: dict[str, ShopState] = {}
    for state in states:
        current = best.get(state.shop_id)
        newest = current is None or state.version > current.version
        if newest and state.version > known.get(state.shop_id, -1):
            best[state.shop_id] = state
    return best


async def store(conn: Connection, states: Sequence[ShopState]) -> list[str]:
    """Upsert the states whose version is higher than the table's; the shops that changed."""
    if not states:
        return []
    rows = await conn.fetch(
        """INSERT INTO shop_states (shop_id, version, state)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::jsonb[])
           ON CONFLICT (shop_id) DO UPDATE SET version = EXCLUDED.version, state = EXCLUDED.state,
                                               updated_at = clock_timestamp()
           WHERE shop_states.version < EXCLUDED.version
           RETURNING shop_id""",
        [s.shop_id for s in states],
        [s.version for s in states],
        [s.model_dump(mode="json") for s in states],
    )
    return [row["shop_id"] for row in rows]


class ShopFollower:
    def __init__(
        self, settings: Settings, db: Database, registry: ShopRegistry, sink: DeadLetterSink
    ) -> None:
        self._settings = settings
        self._db = db
        self._registry = registry
        self._sink = sink
        self._topic = settings.topic(SHOPS.name)
        self.on_change: list[OnChange] = []
        """Called after a shop's new state is in the table and the registry (e.g. to release the
        events held while it was suspended)."""

    async def load(self) -> None:
        """The shops this service already read, into the registry (at start, after migrations)."""
        async with self._db.pool.acquire() as conn:
            rows = await conn.fetch("SELECT state FROM shop_states")
        for row in rows:
            self._registry.put(Shop.from_state(ShopState.model_validate(row["state"])))

    async def apply(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> list[Shop]:
        """Fold a run of records into the table, then the registry; the shops that changed."""
        states: list[ShopState] = []
        for record in records:
            if record.value is None:
                continue  # a tombstone: shops are suspended, never deleted
            try:
                event = decode_event(record.value)
            except InvalidEvent as exc:
                log.warning("%s: invalid shops.state record: %s", FOLLOWER, exc.reason)
                await self._sink.dead_letter(record, FOLLOWER, exc.reason)
                continue
            if isinstance(event.data, ShopState):
                states.append(event.data)
        return await self.take(states)

    async def take(self, states: Sequence[ShopState]) -> list[Shop]:
        """States into the table (where newer than its row) and then the registry; the shops that
        changed (after `on_change` was called for each). Intake's operator API hands its own changes
        over here too, once they committed, so intake sees them before its own relay has sent them."""
        fresh = advancing({}, states)
        async with self._db.transaction() as conn:
            stored = set(await store(conn, list(fresh.values())))
        shops = [Shop.from_state(state) for shop_id, state in fresh.items() if shop_id in stored]
        changed = [shop for shop in shops if self._registry.put(shop)]
        for shop in changed:
            await self._changed(shop)
        return changed

    async def run(self) -> None:
        """Read the topic from its start, then follow it, until cancelled; a failure starts over."""
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: following %s failed; starting over", FOLLOWER, self._topic)
                await asyncio.sleep(RETRY_SECONDS)

    async def _follow(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers,
            client_id=f"careloop-{self._settings.service_name}-shops",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            await consumer.topics()  # metadata of every topic, so the partitions of ours are known
            partitions = consumer.partitions_for_topic(self._topic) or {0}
            assigned = [TopicPartition(self._topic, p) for p in sorted(partitions)]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            while True:
                batches = await consumer.getmany(timeout_ms=POLL_MS)
                for records in batches.values():
                    await self.apply(records)
        finally:
            await consumer.stop()

    async def _changed(self, shop: Shop) -> None:
        for call in self.on_change:
            try:
                await call(shop)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: reacting to shop %s's change failed", FOLLOWER, shop.id)
