"""Many events into the outbox with one round trip: the batched form of `runtime.outbox.enqueue`.

The timer sweep writes hundreds of events per transaction; `enqueue` costs two round trips each (the
insert and the NOTIFY), which measured 6-7x slower end to end on a busy machine (bench/sla_timers.py).
The rows are exactly what `enqueue` writes, in the caller's transaction, and the relay is woken once.
This belongs in runtime/outbox.py as `enqueue_many`; until it is there, it lives here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runtime.db import Connection
from schemas.envelope import CloudEvent
from schemas.registry import encode_event


async def enqueue_many(conn: Connection, topic: str, events: Sequence[tuple[CloudEvent[Any], str]]) -> None:
    """Write (event, key) pairs beside the state; they reach Kafka only if the transaction commits."""
    if not events:
        return
    await conn.executemany(
        "INSERT INTO outbox (event_id, topic, key, payload) VALUES ($1, $2, $3, $4)",
        [(event.id, topic, key, encode_event(event)) for event, key in events],
    )
    await conn.execute("SELECT pg_notify('careloop_outbox', '')")
