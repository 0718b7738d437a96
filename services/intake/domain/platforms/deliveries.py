"""A platform's delivery as steps of one order, and the order's state that decides which steps become
CareLoop events.

Platforms retry, send duplicates, and deliver out of order. The state therefore keeps, per order:
- the newest delivery applied (`position`: the platform's timestamp, then the step's place in an
  order's life, then the delivery key, so equal timestamps still compare the same way every time):
  an older one is stale and never moves the order backwards;
- every step CareLoop was told (`told`, type and reference such as a tracking number): a step told
  once is not announced again, so an update that changes nothing CareLoop models gives no event;
- the newest customer details (`facts`) with their position;
- deliveries about an order not known yet (`waiting`: a refund or a shipment carries no customer),
  applied in position order as soon as a delivery makes the order known.
Each part is a maximum or a union over the deliveries seen, so replaying a delivery, or receiving
the same deliveries in another order, ends in the same state.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from schemas.v1.common import Customer
from schemas.v1.orders import ORDER_EVENT_TYPES, OrderEventData

from .reading import Unmappable


class Platform(StrEnum):
    SHOPIFY = "shopify"
    WOOCOMMERCE = "woocommerce"


class Outcome(StrEnum):
    """What became of one delivery (a metric label and the answer's `outcome`)."""

    APPLIED = "applied"
    """At least one CareLoop event."""
    UNCHANGED = "unchanged"
    """Newer than the order's state, but nothing CareLoop models changed."""
    STALE = "stale"
    """Older than a delivery already applied: it does not move the order backwards."""
    WAITING = "waiting"
    """About an order not known yet: kept, applied once the order is known."""
    IGNORED = "ignored"
    """A topic or status CareLoop has no event for."""
    DUPLICATE = "duplicate"
    DEAD_LETTER = "dead_letter"
    TEST = "test"
    HANDSHAKE = "handshake"
    UNAUTHORIZED = "unauthorized"


@dataclass(frozen=True)
class ShopTerms:
    """What mapping needs of the shop: the customer's locale when the platform names none, the shop's
    zone for dates, and the delivery promise when the platform gives no estimate."""

    locale: str
    timezone: str
    delivery_days: int


@dataclass(frozen=True)
class Delivery:
    """One webhook request, signature checked and body parsed."""

    platform: Platform
    topic: str
    key: str
    """The delivery's identity for duplicates (the platform's event/delivery id)."""
    body: Mapping[str, Any]
    received_at: datetime
    signalled_at: datetime | None = None
    """When the platform says the change happened (Shopify's X-Shopify-Triggered-At)."""


@dataclass(frozen=True)
class OrderFacts:
    """What every CareLoop order event carries besides its own fields."""

    order_id: str
    """CareLoop's order id: the number the customer sees (Shopify `name`, WooCommerce `number`)."""
    customer: Customer


@dataclass(frozen=True)
class Step:
    event_type: str
    ref: str
    """What tells two steps of one type apart (a tracking number, a return or refund id), else ""."""
    fields: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """The event's data besides shop, order and customer."""

    @property
    def told(self) -> str:
        return f"{self.event_type}:{self.ref}"


LIFE_ORDER = (
    "order.created",
    "order.paid",
    "order.shipped",
    "order.delayed",
    "order.out_for_delivery",
    "order.delivered",
    "return.requested",
    "return.received",
    "refund.issued",
    "order.cancelled",
)
"""A step's place in an order's life: which of two steps with one timestamp is the newer."""
_RANK = {event_type: n for n, event_type in enumerate(LIFE_ORDER)}


@dataclass(frozen=True, order=True)
class Position:
    at: datetime
    rank: int
    key: str


@dataclass(frozen=True)
class Mapped:
    """What one delivery says about one order."""

    platform_order_id: str
    at: datetime
    facts: OrderFacts | None
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Incoming:
    key: str
    mapped: Mapped

    @property
    def position(self) -> Position:
        steps = self.mapped.steps
        return Position(self.mapped.at, _RANK[steps[-1].event_type] if steps else -1, self.key)


@dataclass(frozen=True)
class OrderState:
    facts: OrderFacts | None = None
    facts_at: Position | None = None
    position: Position | None = None
    status: str | None = None
    """The last step of the newest delivery applied."""
    told: frozenset[str] = frozenset()
    waiting: tuple[Incoming, ...] = ()


@dataclass(frozen=True)
class Emitted:
    """A CareLoop order event to publish."""

    event_id: str
    event_type: str
    data: OrderEventData
    at: datetime


@dataclass(frozen=True)
class Applied:
    state: OrderState
    outcome: Outcome
    """Of the delivery applied (the released ones are counted by the caller as `applied`)."""
    events: tuple[Emitted, ...] = ()
    released: tuple[tuple[str, Outcome], ...] = ()
    """(key, outcome) of the waiting deliveries applied now."""
    rejected: tuple[tuple[str, str], ...] = ()
    """(key, reason) of waiting deliveries whose steps are not valid events: dead letters now."""


_EVENT_IDS = uuid.UUID("6f2c1d56-5b1e-4a53-9a55-0c61f3f0d3a7")


def apply_delivery(state: OrderState, incoming: Incoming, shop_id: str, platform: Platform) -> Applied:
    """The order's state once `incoming` is applied, and the events it makes. Raises Unmappable if a
    step of `incoming` is not a valid CareLoop event (the state is then left as it was)."""
    state = _learn(state, incoming)
    if state.facts is None:
        if not incoming.mapped.steps:
            return Applied(state, Outcome.IGNORED)
        if any(waiting.key == incoming.key for waiting in state.waiting):
            return Applied(state, Outcome.WAITING)
        return Applied(replace(state, waiting=(*state.waiting, incoming)), Outcome.WAITING)
    state, outcome, events = _step(state, incoming, shop_id, platform)
    if not state.waiting:
        return Applied(state, outcome, events)
    released: list[tuple[str, Outcome]] = []
    rejected: list[tuple[str, str]] = []
    for waiting in sorted(state.waiting, key=lambda w: w.position):
        try:
            state, applied, more = _step(state, waiting, shop_id, platform)
        except Unmappable as exc:
            rejected.append((waiting.key, exc.reason))
            continue
        events += more
        released.append((waiting.key, applied))
    return Applied(replace(state, waiting=()), outcome, events, tuple(released), tuple(rejected))


def _learn(state: OrderState, incoming: Incoming) -> OrderState:
    facts = incoming.mapped.facts
    if facts is None or (state.facts_at is not None and incoming.position <= state.facts_at):
        return state
    return replace(state, facts=facts, facts_at=incoming.position)


def _step(
    state: OrderState, incoming: Incoming, shop_id: str, platform: Platform
) -> tuple[OrderState, Outcome, tuple[Emitted, ...]]:
    steps = incoming.mapped.steps
    if not steps:
        return state, Outcome.IGNORED, ()
    told = state.told | {step.told for step in steps}
    if state.position is not None and incoming.position <= state.position:
        return replace(state, told=told), Outcome.STALE, ()
    assert state.facts is not None
    new = [step for step in dict.fromkeys(steps) if step.told not in state.told]
    events = tuple(_event(state.facts, step, shop_id, platform, incoming) for step in new)
    state = replace(state, told=told, position=incoming.position, status=steps[-1].event_type)
    return state, Outcome.APPLIED if events else Outcome.UNCHANGED, events


def _event(facts: OrderFacts, step: Step, shop_id: str, platform: Platform, incoming: Incoming) -> Emitted:
    model = ORDER_EVENT_TYPES[step.event_type]
    try:
        data = model.model_validate(
            {**step.fields, "shop_id": shop_id, "order_id": facts.order_id, "customer": facts.customer}
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "(data)"
        raise Unmappable(f"not a valid {step.event_type}: {where}: {problem['msg']}") from None
    # The same delivery's same step always gets the same id, whoever publishes it.
    name = f"{platform.value}:{shop_id}:{incoming.key}:{step.told}"
    return Emitted(str(uuid.uuid5(_EVENT_IDS, name)), step.event_type, data, incoming.mapped.at)
