"""Privacy requests in every service's consumer path (docs/privacy.md).

- `guarded`: the runtime wraps every consumer with it. Before a batch is applied, the identities its
  events name are looked up among the customers the service erased; an event naming one is applied
  with its personal fields replaced (runtime.privacy.scrub) and counted, never silently stored whole.
  An erasure and a batch of its shop exclude each other (the look-up takes a shared lock per shop,
  the erasure the exclusive one), so no batch stores what an erasure running beside it misses.
- `privacy_consumer`: a service's handler of `privacy.requested`. In the consumer's one transaction
  (idempotent by event id like every consumer): erase the service's own rows (its `erase`) or read
  them (its `export`), remember the erased identities, and answer `privacy.completed` through the
  outbox, an export cut into as many events as its size needs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from prometheus_client import Counter
from pydantic import BaseModel

from runtime.binding import each
from runtime.consumer import Consumer
from runtime.db import Connection
from runtime.metrics import on_commit
from runtime.outbox import enqueue_many
from runtime.privacy import ExportRows, Subject, chunked, counts_of, digest, event_digests, scrub
from schemas.envelope import CloudEvent
from schemas.registry import make_event
from schemas.v1.privacy import (
    PRIVACY_EVENT_TYPES,
    PartStatus,
    PrivacyCompleted,
    PrivacyKind,
    PrivacyRequested,
)

SUPPRESSED = Counter(
    "careloop_privacy_suppressed_events_total",
    "Events about an erased customer, applied without their personal fields, by consumer and type",
    ["service", "consumer", "type"],
)
APPLIED = Counter(
    "careloop_privacy_requests_applied_total",
    "Privacy requests a service applied to its own rows, by kind",
    ["service", "kind"],
)
ROWS = Counter(
    "careloop_privacy_rows_total",
    "Rows erased or exported for privacy requests, by kind and table",
    ["service", "kind", "table"],
)

EXPORT_CHUNK_BYTES = 160 * 1024
"""An export part's rows per privacy.completed event: well inside the largest event (256 KiB)."""
PRIVACY_TYPES = frozenset(PRIVACY_EVENT_TYPES)
ERASED_PAYLOAD_REASON = "payload erased by privacy request {request}"
_COMPLETION_IDS = uuid.UUID("8f0c4a52-3f57-4d0e-9a5b-2c61d5f0e7a3")

M = TypeVar("M", bound=BaseModel)


# -- the rule for later events ---------------------------------------------------------------------


async def erased_among(conn: Connection, wanted: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (shop, digest) pairs are erased, under the shops' shared privacy locks."""
    if not wanted:
        return set()
    rows = await conn.fetch(
        "SELECT shop_id, digest FROM privacy_erased($1::text[], $2::text[])",
        [shop for shop, _ in wanted],
        [found for _, found in wanted],
    )
    return {(row["shop_id"], row["digest"]) for row in rows}


async def erased_unlocked(conn: Connection, wanted: Sequence[tuple[str, str]]) -> bool:
    """Whether any (shop, digest) pair is erased, without the shops' locks: for a transaction that
    already holds row locks an erasure may want (taking the lock then could deadlock with it)."""
    if not wanted:
        return False
    found = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM erased_customers e
                          JOIN unnest($1::text[], $2::text[]) AS q (shop_id, digest)
                            ON e.shop_id = q.shop_id AND e.digest = q.digest)""",
        [shop for shop, _ in wanted],
        [found for _, found in wanted],
    )
    return bool(found)


def scrubbed(model: M, shop_id: str) -> M:
    """`model` (event data) without its personal fields, validated again as its own type."""
    return type(model).model_validate(scrub(model.model_dump(mode="json"), shop_id))


async def without_erased(
    conn: Connection, events: Sequence[CloudEvent[Any]], service: str, consumer: str
) -> list[CloudEvent[Any]]:
    """The events, those naming an erased customer without their personal fields (counted). Only
    the events of shops that erased someone are looked at closely (`privacy_erased_shops`)."""
    shop_of = [_shop_checked(event) for event in events]
    shops = sorted({shop for shop in shop_of if shop is not None})
    if not shops:
        return list(events)
    rows = await conn.fetch("SELECT shop_id FROM privacy_erased_shops($1::text[])", shops)
    erasing = {row["shop_id"] for row in rows}
    if not erasing:
        return list(events)
    named: list[tuple[str, list[str]] | None] = []
    wanted: dict[tuple[str, str], None] = {}
    for event, shop_id in zip(events, shop_of, strict=True):
        if shop_id not in erasing:
            named.append(None)
            continue
        assert shop_id is not None
        digests = event_digests(shop_id, event.data)
        named.append((shop_id, digests))
        wanted.update(dict.fromkeys((shop_id, d) for d in digests))
    erased = await erased_among(conn, list(wanted))
    if not erased:
        return list(events)
    out: list[CloudEvent[Any]] = []
    for event, names in zip(events, named, strict=True):
        if names is not None and any((names[0], d) in erased for d in names[1]):
            out.append(event.model_copy(update={"data": scrubbed(event.data, names[0])}))
            on_commit(SUPPRESSED.labels(service, consumer, event.type).inc)
        else:
            out.append(event)
    return out


def _shop_checked(event: CloudEvent[Any]) -> str | None:
    """The shop whose erasures apply to the event (None: a privacy event, or no shop)."""
    shop_id = getattr(event.data, "shop_id", None)
    if event.type in PRIVACY_TYPES or not isinstance(shop_id, str):
        return None
    return shop_id


async def scrubbed_if_erased(conn: Connection, data: M, shop_id: str, service: str, source: str) -> M:
    """The same rule for what arrives by HTTP (`source` names the route in the metric)."""
    wanted = [(shop_id, d) for d in event_digests(shop_id, data)]
    if not await erased_among(conn, wanted):
        return data
    on_commit(SUPPRESSED.labels(service, source, type(data).__name__).inc)
    return scrubbed(data, shop_id)


def guarded(consumer: Consumer, service: str) -> Consumer:
    """`consumer` applying the rule for later events first (a privacy consumer is left as it is)."""
    if consumer.types <= PRIVACY_TYPES:
        return consumer

    async def apply(events: Sequence[CloudEvent[Any]], conn: Connection) -> None:
        await consumer.apply(await without_erased(conn, events, service, consumer.name), conn)

    return replace(consumer, apply=apply)  # keeps what else the consumer says (e.g. `holds`)


# -- a service's part of a request -----------------------------------------------------------------

Eraser = Callable[[Connection, Subject], Awaitable[dict[str, int]]]
"""Erase or anonymise the service's own rows about the subject; rows changed by table."""
Exporter = Callable[[Connection, Subject], Awaitable[ExportRows]]
"""The service's own rows about the subject, as JSON, by table."""


@dataclass(frozen=True)
class PrivacyPart:
    """What a service plugs into `privacy_consumer`: its name, the (prefixed) privacy.events topic,
    its eraser and exporter (SQL in its repository) and its clock."""

    service: str
    topic: str
    erase: Eraser
    export: Exporter
    now: Callable[[], datetime]


async def lock_shop(conn: Connection, shop_id: str) -> None:
    """The exclusive side of the lock `privacy_erased` shares: no batch of the shop is being applied
    while the erasure reads and changes its rows."""
    await conn.execute("SELECT pg_advisory_xact_lock(privacy_lock_key($1))", shop_id)


async def remember_erased(conn: Connection, subject: Subject, request_id: str, at: datetime) -> None:
    identities = subject.identities()
    await conn.execute(
        """INSERT INTO erased_customers (shop_id, digest, kind, request_id, erased_at)
           SELECT $1, d, k, $4, $5 FROM unnest($2::text[], $3::text[]) AS u (d, k)
           ON CONFLICT DO NOTHING""",
        subject.shop_id,
        [digest(subject.shop_id, kind, value) for kind, value in identities],
        [kind.value for kind, _ in identities],
        request_id,
        at,
    )


def contains(column: str, needle: str) -> str:
    """SQL: the bytes of `column` contain the text `needle` (an SQL expression), ignoring case, whatever
    the bytes are (escape-encoded on both sides: invalid UTF-8 never fails the statement)."""
    return (
        f"position(lower(encode(convert_to({needle}, 'UTF8'), 'escape')) "
        f"IN lower(encode({column}, 'escape'))) > 0"
    )


def _needles(subject: Subject) -> list[str]:
    """What a stored event's compact JSON contains when it is about the subject."""
    quoted = [
        f'"{field}":{json.dumps(value, ensure_ascii=False)}'
        for field, values in (
            ("customer_id", subject.customer_ids),
            ("ticket_id", subject.ticket_ids),
            ("order_id", subject.order_ids),
        )
        for value in values
    ]
    return [*subject.emails, *quoted]


async def erase_dead_letters(conn: Connection, subject: Subject, request_id: str) -> int:
    """Dead letters (the runtime's table: original bytes) about the subject keep their row and reason
    but lose their bytes. Matched on the raw bytes (any encoding of them), case-insensitively."""
    status = await conn.execute(
        f"""UPDATE dead_letters SET payload = ''::bytea, reason = $4
            WHERE {contains("payload", "$1")}
              AND ($2 OR EXISTS (SELECT 1 FROM unnest($3::text[]) AS n WHERE {contains("payload", "n")}))""",  # noqa: S608
        f'"shop_id":{json.dumps(subject.shop_id, ensure_ascii=False)}',
        subject.whole_shop,
        _needles(subject),
        ERASED_PAYLOAD_REASON.format(request=request_id),
    )
    return int(status.split()[-1])


def _completions(
    request: PrivacyRequested,
    service: str,
    counts: dict[str, int],
    parts: list[ExportRows] | None,
    at: datetime,
) -> list[CloudEvent[Any]]:
    status = PartStatus.COMPLETE if any(counts.values()) else PartStatus.NOTHING_HELD
    chunks: list[ExportRows | None] = list(parts) if parts is not None else [None]
    events = []
    for number, data in enumerate(chunks):
        completed = PrivacyCompleted(
            request_id=request.request_id,
            shop_id=request.shop_id,
            service=service,
            kind=request.kind,
            status=status,
            counts=counts,
            chunk=number,
            chunks=len(chunks),
            data=data,
            at=at,
        )
        event = make_event(
            "privacy.completed", f"careloop/{service}", completed, subject=request.request_id, time=at
        )
        # the same id however often the request is applied: a part is never announced twice
        name = f"{request.request_id}/{service}/{number}"
        events.append(event.model_copy(update={"id": str(uuid.uuid5(_COMPLETION_IDS, name))}))
    return events


async def on_privacy_requested(event: CloudEvent[Any], conn: Connection, part: PrivacyPart) -> None:
    request: PrivacyRequested = event.data
    subject = Subject.of(request)
    await lock_shop(conn, subject.shop_id)
    now = part.now()
    parts: list[ExportRows] | None = None
    if request.kind is PrivacyKind.ERASURE:
        counts = await part.erase(conn, subject)
        counts["dead_letters"] = await erase_dead_letters(conn, subject, request.request_id)
        await remember_erased(conn, subject, request.request_id, now)
    else:
        export = await part.export(conn, subject)
        counts, parts = counts_of(export), chunked(export, EXPORT_CHUNK_BYTES)
    completions = _completions(request, part.service, counts, parts, now)
    await enqueue_many(conn, part.topic, [(e, request.shop_id) for e in completions])
    on_commit(APPLIED.labels(part.service, request.kind.value).inc)
    for table, rows in counts.items():
        if rows:
            on_commit(partial(ROWS.labels(part.service, request.kind.value, table).inc, rows))


def privacy_consumer(name: str, part: PrivacyPart) -> Consumer:
    """The consumer of `privacy.requested` a service subscribes to privacy.events."""
    return each(name, part, {"privacy.requested": on_privacy_requested})
