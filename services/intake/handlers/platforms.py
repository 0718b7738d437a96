"""The platform adapters' use case: one signed webhook delivery in, CareLoop order events out on
`orders.events` through the outbox, in the route's transaction.

Each delivery is recorded by its platform id first (a duplicate stops there), then mapped
(domain/platforms), applied to its order's state under the order's row lock, and its events queued
beside that state. A delivery that cannot be mapped is kept with its reason (a dead letter) and still
answered: the platform would otherwise retry it, then disable the subscription.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from runtime.db import Connection
from runtime.metrics import on_commit
from runtime.outbox import enqueue_many
from runtime.shops import Shop
from schemas.envelope import CloudEvent
from schemas.registry import make_event

from .. import metrics
from ..context import Context
from ..domain.platforms import shopify, woocommerce
from ..domain.platforms.deliveries import (
    Applied,
    Delivery,
    Emitted,
    Incoming,
    Mapped,
    OrderState,
    Outcome,
    Platform,
    ShopTerms,
    apply_delivery,
)
from ..domain.platforms.reading import Unmappable
from ..repository import platforms as repo
from ..repository.platforms import Kept
from .privacy import without_erased_customer

log = logging.getLogger(__name__)

Mapper = Callable[[Delivery, ShopTerms], Mapped | None]
MAPPERS: dict[Platform, Mapper] = {
    Platform.SHOPIFY: shopify.map_delivery,
    Platform.WOOCOMMERCE: woocommerce.map_delivery,
}
TOPICS: dict[Platform, frozenset[str]] = {
    Platform.SHOPIFY: frozenset(shopify.TOPICS),
    Platform.WOOCOMMERCE: woocommerce.TOPICS,
}
WAITING_REASON = "waiting for its order: applied once an order delivery makes the order known"


@dataclass(frozen=True)
class Received:
    """A delivery whose signature was checked, as the route read it."""

    platform: Platform
    topic: str
    key: str
    raw: bytes
    signalled_at: datetime | None = None


def topic_label(platform: Platform, topic: str) -> str:
    """The metric label of a topic: a mapped one, else "other" (the header is the sender's to choose)."""
    return topic if topic in TOPICS[platform] else "other"


def count(platform: Platform, topic: str, outcome: Outcome) -> None:
    on_commit(
        metrics.PLATFORM_DELIVERIES.labels(platform.value, topic_label(platform, topic), outcome.value).inc
    )


async def receive_platform_delivery(
    conn: Connection, ctx: Context, shop: Shop, received: Received
) -> Outcome:
    now = ctx.now()
    platform = received.platform
    if not await repo.record_delivery(conn, shop.id, platform, received.key, received.topic, now):
        outcome = Outcome.DUPLICATE
    else:
        kept = Kept(0, received.key, received.topic, received.raw, received.signalled_at, now)
        outcome = await _receive(conn, ctx, shop, platform, kept)
        await repo.set_outcome(conn, shop.id, platform, received.key, outcome.value)
    count(platform, received.topic, outcome)
    return outcome


def _terms(shop: Shop, ctx: Context) -> ShopTerms:
    return ShopTerms(shop.locale, shop.timezone, ctx.config.platform_delivery_days)


def _parse(raw: bytes) -> Mapping[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Unmappable("the body is not JSON") from None
    if not isinstance(body, dict):
        raise Unmappable("the body is not a JSON object")
    return body


def _delivery(platform: Platform, kept: Kept) -> Delivery:
    return Delivery(
        platform, kept.topic, kept.delivery_key, _parse(kept.payload), kept.received_at, kept.signalled_at
    )


async def _receive(conn: Connection, ctx: Context, shop: Shop, platform: Platform, kept: Kept) -> Outcome:
    try:
        delivery = _delivery(platform, kept)
        if platform is Platform.SHOPIFY and shopify.is_test(delivery.body):
            return Outcome.TEST
        mapped = MAPPERS[platform](delivery, _terms(shop, ctx))
        if mapped is None:
            return Outcome.IGNORED
        return await _apply(conn, ctx, shop, platform, kept, mapped)
    except Unmappable as exc:
        await repo.keep(conn, shop.id, platform, kept, exc.reason)
        # The reason may quote the customer's data: it is shown by the API, not logged.
        log.warning("%s %s delivery of shop %s kept as a dead letter", platform.value, kept.topic, shop.id)
        return Outcome.DEAD_LETTER


async def _apply(
    conn: Connection, ctx: Context, shop: Shop, platform: Platform, kept: Kept, mapped: Mapped
) -> Outcome:
    order = mapped.platform_order_id
    state = await repo.lock_order(conn, shop.id, platform, order)
    waiting: dict[str, Kept] = {}
    unmapped: list[tuple[int, str]] = []
    if state.facts is None:
        for entry in await repo.waiting_for(conn, shop.id, platform, order):
            waiting[entry.delivery_key] = entry
        state, unmapped = _with_waiting(state, list(waiting.values()), platform, _terms(shop, ctx))
    applied = apply_delivery(state, Incoming(kept.delivery_key, mapped), shop.id, platform)
    if applied.outcome is Outcome.WAITING:
        await repo.keep(conn, shop.id, platform, kept, WAITING_REASON, waiting_for=order)
    await repo.release(
        conn, shop.id, platform, [(waiting[key], done.value) for key, done in applied.released]
    )
    rejected = unmapped + [(waiting[key].id, why) for key, why in applied.rejected]
    if rejected:
        log.warning(
            "%s: %d waiting deliveries of shop %s are dead letters now",
            platform.value,
            len(rejected),
            shop.id,
        )
    await repo.reject(conn, shop.id, rejected)
    # what the platform says of an erased customer is kept without them (docs/privacy.md)
    state = await without_erased_customer(conn, shop.id, applied.state)
    await repo.save_order(conn, shop.id, platform, order, state)
    await _publish(conn, ctx, platform, applied)
    return applied.outcome


def _with_waiting(
    state: OrderState, entries: list[Kept], platform: Platform, terms: ShopTerms
) -> tuple[OrderState, list[tuple[int, str]]]:
    """The order's state with its waiting deliveries mapped again, and those that no longer map."""
    incoming: list[Incoming] = []
    unmapped: list[tuple[int, str]] = []
    for entry in entries:
        try:
            mapped = MAPPERS[platform](_delivery(platform, entry), terms)
        except Unmappable as exc:
            unmapped.append((entry.id, exc.reason))
            continue
        if mapped is None:
            unmapped.append((entry.id, f"topic {entry.topic!r} is not mapped"))
            continue
        incoming.append(Incoming(entry.delivery_key, mapped))
    return replace(state, waiting=tuple(incoming)), unmapped


async def _publish(conn: Connection, ctx: Context, platform: Platform, applied: Applied) -> None:
    source = f"careloop/intake/platforms/{platform.value}"
    await enqueue_many(conn, ctx.orders_topic, [(_event(e, source), None) for e in applied.events])
    for emitted in applied.events:
        on_commit(metrics.PLATFORM_EVENTS.labels(platform.value, emitted.event_type).inc)


def _event(emitted: Emitted, source: str) -> CloudEvent[Any]:
    event = make_event(
        emitted.event_type, source, emitted.data, subject=emitted.data.order_id, time=emitted.at
    )
    return event.model_copy(update={"id": emitted.event_id})
