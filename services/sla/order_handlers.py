"""Order events applied to order promises (ship-by, delivery date, repair), in the consumer's transaction.

One path: `on_order_events` turns each event of a run (a Kafka batch, or a batch of one) into steps on
promises, folds them in memory in record order (services/sla/domain/promise_steps.py, pure) and writes
the end state at once. A promise is its shop's: every read and lock names the shop and the order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runtime.db import Connection
from runtime.metrics import on_commit
from runtime.outbox import enqueue_many
from schemas.envelope import CloudEvent
from services.sla import repository as repo
from services.sla.domain.promise_steps import STEP_RULES, ShipByTerms, fold_steps, orders_of
from services.sla.events import promise_breached_event
from services.sla.handlers import SlaContext


async def on_order_events(events: Sequence[CloudEvent[Any]], conn: Connection, ctx: SlaContext) -> None:
    """A run of order events (record order) in at most four round trips, however many events and
    orders: the ship-by terms of the shops with a payment in the run, the lock of every promise the
    run touches, one upsert of the promises that changed, and the outbox.

    An event of an unknown shop makes it raise before any I/O (the runtime then redoes the run event
    by event and dead-letters that one)."""
    shops = [ctx.shop(event.data.shop_id) for event in events]
    paying = {
        shop.id: shop.timezone
        for event, shop in zip(events, shops, strict=True)
        if event.type == "order.paid"
    }
    terms: dict[str, ShipByTerms] = {}
    if paying:
        loaded = await repo.load_ship_by_terms(conn, list(paying.items()))
        terms = {
            shop_id: ShipByTerms(policies.default_ship_by_business_hours, calendar.to_calendar())
            for shop_id, (policies, calendar) in loaded.items()
        }
    steps = [
        step
        for event, shop in zip(events, shops, strict=True)
        for step in STEP_RULES[event.type](event, shop.timezone, terms.get(shop.id))
    ]
    if not steps:
        return
    folded = fold_steps(await repo.lock_promises(conn, orders_of(steps)), steps)
    await repo.save_promises(conn, folded.changed)
    if folded.breaches:
        now = ctx.now()
        outgoing = [promise_breached_event(b.promise, b.at, now) for b in folded.breaches]
        await enqueue_many(conn, ctx.out_topic, [(item.event, item.key) for item in outgoing])
        for item in outgoing:
            on_commit(item.observe)
