"""The soak's traffic: the demo shop's generators (order journeys and contacts from demo.shop's
timeline, agents from demo.agents, customers answering on the real survey page as demo.behaviour
decides) at a configurable rate, with every id produced written down for the final check.

Unlike the live demo, nothing is dropped on an error: a shop platform retries an order event until
Kafka has it, a gateway retries a contact with the same channel_message_id until intake takes it
(or refuses it with a 4xx), a customer retries an answer. What was retried longer than the give-up
limit is counted, never silently left out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from demo.behaviour import survey_answer
from demo.contacts import ScheduledContact
from demo.journeys import ScheduledEvent
from demo.shop import GATEWAY_SOURCE, ShopTimeline
from runtime.clock import Clock
from schemas import topics
from schemas.registry import encode_event, make_event

log = logging.getLogger("bench.soak")

Record = tuple[str, bytes, bytes]
"""(topic, key, value) of one Kafka record."""


@dataclass
class Produced:
    """Everything the soak's shop, gateways and customers got accepted, by id."""

    order_events: dict[str, str] = field(default_factory=dict)
    """event id -> type, for every order event Kafka acknowledged."""
    contacts: set[tuple[str, str]] = field(default_factory=set)
    """(channel, channel_message_id) of every contact accepted (HTTP 2xx or acknowledged by Kafka)."""
    contacts_sent: int = 0
    """Contacts sent, repeats of one message included (a gateway delivering twice)."""
    answers: dict[str, str] = field(default_factory=dict)
    """survey id -> kind, of every answer the page accepted."""
    refused: Counter[str] = field(default_factory=Counter)
    """What a service refused with a 4xx (not a loss: the sender was told), by what and status."""
    gave_up: Counter[str] = field(default_factory=Counter)
    """What could not be delivered within the give-up limit, by what."""
    retries: Counter[str] = field(default_factory=Counter)
    invitations: int = 0
    """Survey invitations the customers got (verified survey.invited webhooks)."""
    agent_actions: Counter[str] = field(default_factory=Counter)


def _new_producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, request_timeout_ms=10_000
    )


class KafkaSender:
    """Sends a batch in order and retries what failed with a fresh producer (a producer that saw its
    broker go away may keep failing on stale sequence numbers)."""

    def __init__(self, bootstrap: str, give_up_seconds: float) -> None:
        self._bootstrap = bootstrap
        self._give_up = give_up_seconds
        self._producer: AIOKafkaProducer | None = None

    async def _ready(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = _new_producer(self._bootstrap)
            await producer.start()
            self._producer = producer
        return self._producer

    async def _reset(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), 15)
            except (KafkaError, OSError, TimeoutError) as exc:
                log.info("soak: closing a failed producer: %r", exc)

    async def send(self, records: list[Record], produced: Produced) -> list[bool]:
        """True for each record Kafka acknowledged."""
        done = [False] * len(records)
        try:
            producer = await asyncio.wait_for(self._ready(), 30)
            futures = [await producer.send(t, v, key=k) for t, k, v in records]
            results = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 30)
            done = [not isinstance(r, BaseException) for r in results]
        except (KafkaError, OSError, TimeoutError):
            pass
        if all(done):
            return done
        await self._reset()
        deadline = time.monotonic() + self._give_up
        for i, (topic, key, value) in enumerate(records):
            delay = 0.5
            while not done[i] and time.monotonic() < deadline:
                produced.retries["kafka"] += 1
                try:
                    producer = await asyncio.wait_for(self._ready(), 30)
                    await asyncio.wait_for(producer.send_and_wait(topic, value, key=key), 30)
                    done[i] = True
                except (KafkaError, OSError, TimeoutError):
                    await self._reset()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
        return done

    async def close(self) -> None:
        await self._reset()


class ShopTraffic:
    """Releases the timeline's items when due: order steps and gateway contacts onto Kafka (one task,
    in due order), contacts through intake's API (another task, so an intake outage does not hold up
    the orders)."""

    def __init__(
        self,
        timeline: ShopTimeline,
        clock: Clock,
        bootstrap: str,
        intake: httpx.AsyncClient,
        produced: Produced,
        give_up_seconds: float,
    ) -> None:
        self._timeline = timeline
        self._clock = clock
        self._sender = KafkaSender(bootstrap, give_up_seconds)
        self._intake = intake
        self._produced = produced
        self._give_up = give_up_seconds
        self._posts: asyncio.Queue[ScheduledContact] = asyncio.Queue()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; then everything already released is delivered (or given up on)."""
        poster = asyncio.create_task(self._post_contacts())
        try:
            while not stop.is_set():
                items = self._timeline.release(self._clock.now())
                await self._publish([i for i in items if not self._via_http(i)])
                for item in items:
                    if isinstance(item, ScheduledContact):
                        self._produced.contacts_sent += 1
                        if not item.via_gateway:
                            self._posts.put_nowait(item)
                await asyncio.wait([asyncio.create_task(stop.wait())], timeout=0.25)
            await self._posts.join()
        finally:
            poster.cancel()
            await asyncio.gather(poster, return_exceptions=True)
            await self._sender.close()

    @staticmethod
    def _via_http(item: ScheduledEvent | ScheduledContact) -> bool:
        return isinstance(item, ScheduledContact) and not item.via_gateway

    async def _publish(self, items: list[ScheduledEvent | ScheduledContact]) -> None:
        records: list[Record] = []
        for item in items:
            if isinstance(item, ScheduledEvent):
                records.append((topics.ORDERS.name, item.order_id.encode(), encode_event(item.event)))
            else:
                contact = item.contact
                event = make_event("contact.received", GATEWAY_SOURCE, contact, subject=contact.thread_id)
                event = event.model_copy(update={"time": item.due})
                who = contact.customer_email or contact.customer_phone or contact.customer_handle or ""
                key = f"{contact.shop_id}:{who}".encode()
                records.append((topics.CONTACTS.name, key, encode_event(event)))
        if not records:
            return
        for item, ok in zip(items, await self._sender.send(records, self._produced), strict=True):
            if not ok:
                self._produced.gave_up["order event" if isinstance(item, ScheduledEvent) else "contact"] += 1
            elif isinstance(item, ScheduledEvent):
                self._produced.order_events[item.event.id] = item.event.type
            else:
                self._produced.contacts.add(
                    (item.contact.channel.value, item.contact.channel_message_id or "")
                )

    async def _post_contacts(self) -> None:
        while True:
            item = await self._posts.get()
            try:
                await self._post(item)
            finally:
                self._posts.task_done()

    async def _post(self, item: ScheduledContact) -> None:
        contact = item.contact
        body = contact.model_dump(mode="json", exclude={"shop_id"}, exclude_none=True)
        key = (contact.channel.value, contact.channel_message_id or "")
        deadline = time.monotonic() + self._give_up
        delay = 0.5
        while time.monotonic() < deadline:
            try:
                response = await self._intake.post("/v1/contacts", json=body)
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code < 500:
                if response.is_success:
                    self._produced.contacts.add(key)
                else:
                    self._produced.refused[f"contact http {response.status_code}"] += 1
                return
            self._produced.retries["contact"] += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        self._produced.gave_up["contact"] += 1


class SoakCustomers:
    """Follows each survey invitation (a verified survey.invited webhook) to the answer page, when
    demo.behaviour says the customer answers, and writes down every answer the page accepted."""

    def __init__(
        self,
        invitations: asyncio.Queue[dict[str, Any]],
        pages: httpx.AsyncClient,
        clock: Clock,
        seed: int,
        produced: Produced,
        give_up_seconds: float,
    ) -> None:
        self._invitations = invitations
        self._pages = pages
        self._clock = clock
        self._seed = seed
        self._produced = produced
        self._give_up = give_up_seconds
        self._due: list[tuple[Any, dict[str, Any], Any]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(8)
        self.invited = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`; answers under way are finished, answers not yet due are never given."""
        while not stop.is_set():
            while not self._invitations.empty():
                invitation = self._invitations.get_nowait()
                self.invited += 1
                locale = str(invitation.get("locale") or "en")
                plan = survey_answer(self._seed, invitation["survey_id"], invitation["kind"], locale)
                if plan is not None:
                    self._due.append((self._clock.now() + plan.after, invitation, plan))
            now = self._clock.now()
            for entry in [e for e in self._due if e[0] <= now]:
                self._due.remove(entry)
                task = asyncio.create_task(self._answer(entry[1], entry[2]))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            await asyncio.wait([asyncio.create_task(stop.wait())], timeout=0.5)
        await asyncio.gather(*self._running, return_exceptions=True)

    async def _answer(self, invitation: dict[str, Any], plan: Any) -> None:
        async with self._slots:
            outcome = await self._submit(invitation["link"], plan)
        if outcome == "accepted":
            self._produced.answers[invitation["survey_id"]] = invitation["kind"]
        elif outcome != "gave up":
            self._produced.refused[f"answer {outcome}"] += 1
        else:
            self._produced.gave_up["answer"] += 1

    async def _submit(self, link: str, plan: Any) -> str:
        """accepted, gave up, or the page's refusal. A 410 after a try whose fate is unknown (cut
        connection, 5xx) means that try went through: the link is single-use."""
        form = {"score": str(plan.score), "comment": plan.comment}
        if plan.speed is not None:
            form["speed"] = str(plan.speed)
        if plan.accuracy is not None:
            form["accuracy"] = str(plan.accuracy)
        deadline = time.monotonic() + self._give_up
        delay, uncertain = 0.5, False
        while time.monotonic() < deadline:
            posted = False
            response: httpx.Response | None = None
            try:
                response = await self._pages.get(link, params={"score": plan.score})
                if response.status_code == 200:
                    posted = True
                    response = await self._pages.post(link, data=form)
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code < 500:
                if response.status_code == 200:
                    return "accepted"
                return (
                    "accepted"
                    if response.status_code == 410 and uncertain
                    else f"http {response.status_code}"
                )
            uncertain = uncertain or posted
            self._produced.retries["answer"] += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        return "gave up"
