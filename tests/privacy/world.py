"""All four services in-process on one isolated run, and customers with a realistic history: orders
(with SLA promises), a contact by the API and an e-mail joining it, an automatic reply left out, an
agent's reply sent by SMTP, a solved ticket, an NPS and a CSAT survey answered with comments (the
unhappy one opens a follow-up ticket), and signed webhooks of all of it to an endpoint that echoes
what it got. Every text a customer's history holds is in `Person.needles()`, for the scans."""

from __future__ import annotations

import importlib
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from runtime.clock import ManualClock
from runtime.db import Database
from runtime.provision import ensure_service_schema
from runtime.service import ServiceApp
from runtime.settings import Settings
from schemas import topics
from schemas.registry import make_event
from schemas.v1.common import Customer
from schemas.v1.orders import OrderCreated, OrderDelivered, OrderPaid, OrderShipped
from services.intake.config import IntakeConfig
from services.notify.config import NotifyConfig
from services.survey.config import SurveyConfig
from tests.notify.receiver import Received, Receiver, Reply
from tests.support.kafka import produce
from tests.support.shops import KEY_A, KEY_B, SHOP_A, SHOP_B, auth
from tests.support.smtp import MailServer
from tests.support.stack import http_client, wait_ready
from tests.support.wait import eventually
from tests.survey.support import invitation_link

SERVICES = ("intake", "sla", "notify", "survey")
KEYS = {SHOP_A: KEY_A, SHOP_B: KEY_B}


@dataclass(frozen=True)
class Person:
    shop: str
    customer_id: str
    email: str
    name: str
    phone: str
    tag: str
    """Unique in every text of theirs: a scan for it finds anything they wrote or were written."""

    @property
    def order_id(self) -> str:
        return f"o-{self.customer_id}"  # not personal: it stays, as every count does

    @property
    def key(self) -> str:
        return KEYS[self.shop]

    def customer(self) -> Customer:
        return Customer(
            id=self.customer_id, email=self.email, phone=self.phone, name=self.name, locale="pl-PL"
        )

    def text(self, what: str) -> str:
        return f"{what} {self.tag}"

    def needles(self) -> list[str]:
        return [self.email, self.name, self.tag]


@dataclass
class World:
    settings: Settings
    apps: dict[str, ServiceApp]
    clients: dict[str, httpx.AsyncClient]
    receiver: Receiver
    smtp: MailServer
    clock: ManualClock
    stack: AsyncExitStack
    running: dict[str, AsyncExitStack] = field(default_factory=dict)

    def db(self, name: str) -> Database:
        return self.apps[name].runtime.db

    async def start(self, name: str) -> None:
        inner = AsyncExitStack()
        app = build(self.settings, name)
        app.runtime.clock = self.clock
        await inner.enter_async_context(app.start_lifespan_context())
        await wait_ready(app)
        self.apps[name] = app
        self.clients[name] = await inner.enter_async_context(http_client(app))
        self.running[name] = inner
        self.stack.push_async_callback(inner.aclose)

    async def stop(self, name: str) -> None:
        """Stop one service (its consumers leave their groups; what is published meanwhile waits)."""
        await self.running.pop(name).aclose()


def build(settings: Settings, name: str) -> ServiceApp:
    service_settings = settings.for_service(name)
    bootstrap = importlib.import_module(f"services.{name}.bootstrap")
    configs: dict[str, Any] = {
        "intake": IntakeConfig(gauge_seconds=0.5),
        "notify": NotifyConfig(allow_loopback=True, poll_seconds=0.05, retry_jitter=0.0, gauge_seconds=0.5),
        "survey": SurveyConfig(sweep_seconds=0.1, score_gauge_seconds=0.5),
    }
    app: ServiceApp = (
        bootstrap.build(service_settings, configs[name])
        if name in configs
        else bootstrap.build(service_settings)
    )
    return app


async def echo(request: Received) -> Reply:
    """The shop's endpoint answers with what it got, as some do: its answers hold the customer too."""
    return Reply(body=request.body)


async def open_world(settings: Settings, stack: AsyncExitStack) -> World:
    receiver = await Receiver(echo).start()
    stack.push_async_callback(receiver.stop)
    smtp = await MailServer().start()
    stack.push_async_callback(smtp.stop)
    for name in SERVICES:
        await ensure_service_schema(settings.for_service(name))
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    world = World(settings, {}, {}, receiver, smtp, clock, stack)
    for name in SERVICES:
        await world.start(name)
    for shop, key in KEYS.items():
        hook = await world.clients["notify"].post(
            "/v1/endpoints", json={"url": receiver.url(f"/{shop}"), "description": "care"}, headers=auth(key)
        )
        assert hook.status_code == 201, hook.text
        relay = {
            "host": "127.0.0.1",
            "port": smtp.port,
            "starttls": False,
            "from_address": f"care@{shop}.example",
        }
        put = await world.clients["notify"].put("/v1/email/relay", json=relay, headers=auth(key))
        assert put.status_code == 200, put.text
    return world


# -- a customer's history ----------------------------------------------------------------------------


@dataclass
class History:
    ticket_id: str = ""
    follow_up_id: str = ""
    surveys: list[str] = field(default_factory=list)


async def order_events(world: World, person: Person) -> None:
    now, who, order = world.clock.now(), person.customer(), person.order_id
    events = [
        make_event(
            "order.created",
            "shop",
            OrderCreated(
                shop_id=person.shop, order_id=order, customer=who, total=Decimal("99.00"), currency="PLN"
            ),
            subject=order,
        ),
        make_event(
            "order.paid",
            "shop",
            OrderPaid(
                shop_id=person.shop,
                order_id=order,
                customer=who,
                amount=Decimal("99.00"),
                currency="PLN",
                ship_by=now + timedelta(days=2),
            ),
            subject=order,
        ),
        make_event(
            "order.shipped",
            "shop",
            OrderShipped(
                shop_id=person.shop,
                order_id=order,
                customer=who,
                carrier="InPost",
                tracking_number=f"TRK{person.customer_id}",
                promised_delivery_date=date.today() + timedelta(days=20),
            ),
            subject=order,
        ),
        make_event(
            "order.delivered",
            "shop",
            OrderDelivered(shop_id=person.shop, order_id=order, customer=who, delivered_at=now),
            subject=order,
        ),
    ]
    for event in events:
        await produce(world.settings, topics.ORDERS.name, event)

    async def delivered() -> bool:
        status = await world.db("intake").fetch(
            "SELECT status FROM orders WHERE shop_id = $1 AND order_id = $2", person.shop, order
        )
        return bool(status) and status[0]["status"] == "delivered"

    try:
        await eventually(delivered, timeout=60)
    except AssertionError:
        rows = await world.db("intake").fetch("SELECT shop_id, order_id, status FROM orders")
        dead = await world.db("intake").fetch("SELECT consumer, reason FROM dead_letters")
        raise AssertionError((person.tag, [dict(r) for r in rows], [dict(d) for d in dead])) from None


def raw_mail(person: Person, message_id: str, body: str, *extra: str) -> bytes:
    head = [
        f"From: {person.name} <{person.email}>",
        f"To: care@{person.shop}.example",
        f"Subject: {person.text('Order question')}",
        f"Message-ID: {message_id}",
        "Content-Type: text/plain; charset=utf-8",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n" + body + "\r\n").encode()


async def conversation(world: World, person: Person, history: History) -> None:
    intake = world.clients["intake"]
    contact = await intake.post(
        "/v1/contacts",
        json={
            "channel": "email",
            "customer_email": person.email,
            "customer_name": person.name,
            "customer_phone": person.phone,
            "order_id": person.order_id,
            "subject": person.text("Where is my parcel"),
            "body": person.text("My parcel has not arrived, please help"),
            "thread_id": f"<thread-{person.tag}@mail.example>",
        },
        headers=auth(person.key),
    )
    assert contact.status_code == 201, contact.text
    history.ticket_id = contact.json()["ticket_id"]
    mail = raw_mail(
        person,
        f"<second-{person.tag}@mail.example>",
        person.text("Writing again about my order"),
        f"In-Reply-To: <thread-{person.tag}@mail.example>",
    )
    for raw in (
        mail,
        raw_mail(
            person,
            f"<away-{person.tag}@mail.example>",
            person.text("I am away"),
            "Auto-Submitted: auto-replied",
        ),
    ):
        got = await intake.post(
            "/v1/inbound/email", content=raw, headers={**auth(person.key), "content-type": "message/rfc822"}
        )
        assert got.status_code in (200, 201), got.text
    reply = await intake.post(
        f"/v1/tickets/{history.ticket_id}/replies",
        json={"body": f"Dear {person.name}, your parcel is on its way ({person.tag})", "author_name": "Ola"},
        headers=auth(person.key),
    )
    assert reply.status_code == 201, reply.text
    solved = await intake.post(
        f"/v1/tickets/{history.ticket_id}/status", json={"status": "solved"}, headers=auth(person.key)
    )
    assert solved.status_code == 200, solved.text


async def follow_up(world: World, person: Person) -> str:
    """The ticket an unhappy answer of theirs opened."""

    async def opened() -> list[asyncpg.Record]:
        return await world.db("intake").fetch(
            "SELECT id FROM tickets WHERE shop_id = $1 AND source = 'survey_detractor' AND customer_id = $2",
            person.shop,
            person.customer_id,
        )

    found: str = (await eventually(opened, timeout=60))[0]["id"]
    return found


async def surveys_waiting(world: World, person: Person) -> None:
    """Survey has the customer's CSAT sent (so it saw the ticket solved) and their NPS scheduled."""

    async def both() -> bool:
        rows = await world.db("survey").fetch(
            "SELECT kind, status FROM invitations WHERE shop_id = $1 AND customer_id = $2",
            person.shop,
            person.customer_id,
        )
        return {("csat", "sent"), ("nps", "scheduled")} <= {(r["kind"], r["status"]) for r in rows}

    await eventually(both, timeout=60)


async def answer(world: World, person: Person, kind: str, score: int, comment: str) -> str:
    """Answer the customer's survey of `kind` (its link from survey.invited on Kafka)."""

    async def sent() -> list[asyncpg.Record]:
        return await world.db("survey").fetch(
            """SELECT survey_id FROM invitations
               WHERE shop_id = $1 AND customer_id = $2 AND kind = $3 AND status = 'sent'""",
            person.shop,
            person.customer_id,
            kind,
        )

    survey_id: str = (await eventually(sent, timeout=60))[0]["survey_id"]
    token = (await invitation_link(world.settings, survey_id)).rsplit("/s/", 1)[1]
    answered = await world.clients["survey"].post(
        "/v1/answers", json={"token": token, "score": score, "comment": person.text(comment)}
    )
    assert answered.status_code == 201, answered.text
    return survey_id


async def settled(world: World, emails: int) -> None:
    """Every webhook delivered and every reply e-mail sent."""

    async def done() -> bool:
        rows = await world.db("notify").fetch(
            """SELECT (SELECT count(*) FROM deliveries
                       WHERE status IN ('pending', 'delivering')) AS unfinished,
                      (SELECT count(*) FROM deliveries) AS queued,
                      (SELECT count(*) FROM email_sends WHERE status = 'sent') AS mails"""
        )
        row = rows[0]
        return bool(row["unfinished"] == 0 and row["queued"] > 0 and row["mails"] >= emails)

    await eventually(done, timeout=90, interval=0.2)


async def live_through(world: World, people: list[Person]) -> dict[str, History]:
    """Everyone's history, a step at a time for all of them: the week before the NPS passes once."""
    histories = {person.tag: History() for person in people}
    for person in people:
        await order_events(world, person)
    for person in people:
        await conversation(world, person, histories[person.tag])
    # The NPS waits a week after delivery, and for no ticket of the customer's to be open: the week
    # passes once survey knows the ticket is solved (its CSAT went out), and the NPS is answered before
    # the unhappy CSAT opens its follow-up ticket.
    for person in people:
        await surveys_waiting(world, person)
    world.clock.advance(timedelta(days=7, minutes=5))
    for person in people:
        history = histories[person.tag]
        history.surveys.append(await answer(world, person, "nps", 9, "Great shop anyway"))
        history.surveys.append(await answer(world, person, "csat", 1, "Nobody helped me"))
        history.follow_up_id = await follow_up(world, person)
    await settled(world, emails=len(people))
    return histories
