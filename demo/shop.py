"""The demo shop's platform: order journeys onto orders.events and customer contacts into intake, each
at its due instant in domain time (accelerated when the demo runs fast).

Contacts take the ways they take in a real shop: e-mail and chat through their gateways
(contact.received on support.contacts), web form, phone and social through intake's HTTP API.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
from collections import Counter as Tally
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from demo.contacts import ScheduledContact, contacts_for_journey, walk_in_contacts
from demo.journeys import ScheduledEvent, shop_day
from demo.people import OwnCustomers
from demo.shopify import ShopifyStore
from runtime.clock import Clock
from runtime.settings import Settings
from schemas import topics
from schemas.registry import encode_event, make_event

log = logging.getLogger("demo.shop")

Item = ScheduledEvent | ScheduledContact
GATEWAY_SOURCE = "gateway/demo"
DAY = timedelta(days=1)


class ShopTimeline:
    """Every order step and contact of the shop, planned a day at a time and released when due.

    Pure apart from its seeded generator: `release(now)` returns what fell due up to `now`."""

    def __init__(
        self,
        rng: random.Random,
        shop_id: str,
        start: datetime,
        orders_per_day: int,
        *,
        first_order_no: int = 1,
        locale: str = "pl",
        customers: OwnCustomers | None = None,
    ) -> None:
        """`customers` learns every customer the timeline makes up, before any of them writes."""
        self._rng = rng
        self._customers = customers
        self._shop_id = shop_id
        self._start = start
        self._orders_per_day = orders_per_day
        self._first_order_no = first_order_no
        self._locale = locale
        self._days_planned = 0
        self._heap: list[tuple[datetime, int, Item]] = []
        self._sequence = itertools.count()

    def _plan_day(self) -> None:
        n = self._days_planned
        day_start = self._start + n * DAY
        orders = self._orders_per_day
        first = self._first_order_no + n * orders
        events = shop_day(
            self._rng, self._shop_id, day_start, orders, first_order_no=first, locale=self._locale
        )
        items: list[Item] = list(events)
        by_order: dict[str, list[ScheduledEvent]] = {}
        for e in events:
            by_order.setdefault(e.order_id, []).append(e)
        for journey in by_order.values():
            items += contacts_for_journey(self._rng, journey)
        items += walk_in_contacts(
            self._rng,
            self._shop_id,
            day_start,
            max(1, orders // 3),
            first_customer_no=first + 10 * orders,  # apart from the order customers' numbers
            locale=self._locale,
        )
        for item in items:
            heapq.heappush(self._heap, (item.due, next(self._sequence), item))
            if self._customers is None:
                continue
            if isinstance(item, ScheduledEvent):
                self._customers.add_customer(item.event.data.customer)
            else:
                self._customers.add_contact(item.contact)
        self._days_planned += 1

    def release(self, now: datetime) -> list[Item]:
        while self._start + self._days_planned * DAY <= now:
            self._plan_day()
        out: list[Item] = []
        while self._heap and self._heap[0][0] <= now:
            out.append(heapq.heappop(self._heap)[2])
        return out


@dataclass
class ShopStats:
    orders_created: int = 0
    order_events: Tally[str] = field(default_factory=Tally)
    contacts: Tally[str] = field(default_factory=Tally)
    """By channel."""
    contact_outcomes: Tally[str] = field(default_factory=Tally)
    """created/joined/reopened/duplicate from intake, `gateway` for the topic, or http_<status>."""
    lost: Tally[str] = field(default_factory=Tally)
    """Order steps and contacts that could not be delivered, by error."""


class ShopGenerator:
    def __init__(
        self,
        settings: Settings,
        timeline: ShopTimeline,
        clock: Clock,
        intake: httpx.AsyncClient,
        poll_seconds: float = 0.25,
        *,
        shopify: ShopifyStore | None = None,
    ) -> None:
        """With `shopify`, order steps go to intake's Shopify adapter as that store's webhooks."""
        self._settings = settings
        self._shopify = shopify
        self._timeline = timeline
        self._clock = clock
        self._intake = intake
        self._poll_seconds = poll_seconds
        self.stats = ShopStats()

    async def run(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            if self._shopify is not None:
                await self._connect_shopify(self._shopify)
            while True:
                for item in self._timeline.release(self._clock.now()):
                    try:
                        await self._publish(producer, item)
                    except (httpx.HTTPError, KafkaError, OSError) as exc:
                        # One lost step must not stop the shop (Kafka or intake away): count, carry on.
                        self.stats.lost[type(exc).__name__] += 1
                        log.warning("not delivered (%s): %s", type(exc).__name__, exc)
                await asyncio.sleep(self._poll_seconds)
        finally:
            await producer.stop()

    async def _connect_shopify(self, store: ShopifyStore, attempts: int = 20) -> None:
        """Register the store's secret at intake, as a shop connecting Shopify does (docs/platforms.md)."""
        body = {"platform": "shopify", "secret": store.secret}
        for attempt in range(attempts):
            try:
                answer = await self._intake.post("/v1/platforms/secrets", json=body)
                if answer.status_code == 201:
                    log.warning("shop: orders go through intake's Shopify adapter (%s)", store.path)
                    return
                if answer.status_code < 500:
                    raise RuntimeError(f"intake refused the demo's Shopify secret: {answer.text[:300]}")
            except httpx.HTTPError:
                pass
            await asyncio.sleep(min(0.2 * 2**attempt, 3.0))
        raise RuntimeError("intake did not take the demo's Shopify secret")

    async def _send_to_shopify_adapter(self, store: ShopifyStore, item: ScheduledEvent) -> bool:
        """The step as the store's webhook; False if Shopify has no topic for it."""
        delivery = store.delivery(item.event)
        if delivery is None:
            return False
        raw, headers = delivery
        answer = await self._intake.post(store.path, content=raw, headers=headers)
        answer.raise_for_status()
        return True

    async def _publish(self, producer: AIOKafkaProducer, item: Item) -> None:
        if isinstance(item, ScheduledEvent):
            if self._shopify is None or not await self._send_to_shopify_adapter(self._shopify, item):
                await producer.send_and_wait(
                    self._settings.topic(topics.ORDERS.name),
                    encode_event(item.event),
                    key=item.order_id.encode(),
                )
            self.stats.order_events[item.event.type] += 1
            if item.event.type == "order.created":
                self.stats.orders_created += 1
            return
        contact = item.contact
        self.stats.contacts[contact.channel.value] += 1
        if item.via_gateway:
            event = make_event(
                "contact.received", GATEWAY_SOURCE, contact, subject=contact.thread_id, time=item.due
            )
            who = contact.customer_email or contact.customer_phone or contact.customer_handle or ""
            key = f"{contact.shop_id}:{who}".encode()
            await producer.send_and_wait(
                self._settings.topic(topics.CONTACTS.name), encode_event(event), key=key
            )
            self.stats.contact_outcomes["gateway"] += 1
            return
        body = contact.model_dump(mode="json", exclude={"shop_id"}, exclude_none=True)
        response = await self._intake.post("/v1/contacts", json=body)
        if response.status_code in (200, 201):
            self.stats.contact_outcomes[str(response.json()["outcome"])] += 1
        else:
            self.stats.contact_outcomes[f"http_{response.status_code}"] += 1
            log.warning("intake refused a contact: %s %s", response.status_code, response.text[:300])
