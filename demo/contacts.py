"""What the demo shop's customers write, and when: contacts that follow from their order journeys
(a delayed parcel, a return, a repair), walk-in questions without an order, follow-ups on the same
thread and the occasional duplicate a channel gateway delivers twice.

Pure: a seeded random generator and a journey in, a list of (due, contact) out.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from demo.journeys import ScheduledEvent, customer_for
from demo.people import handle_of, phone_of
from schemas.v1.common import Customer
from schemas.v1.contacts import Channel, ContactReceived

# Shares of channels, as a mid-size e-commerce shop sees them.
CHANNEL_WEIGHTS: dict[Channel, float] = {
    Channel.EMAIL: 0.35,
    Channel.CHAT: 0.25,
    Channel.WEB_FORM: 0.2,
    Channel.PHONE: 0.1,
    Channel.SOCIAL: 0.1,
}
GATEWAY_CHANNELS = frozenset({Channel.EMAIL, Channel.CHAT})
"""Arrive as contact.received on support.contacts (the mail and chat gateways); the rest via HTTP."""


@dataclass(frozen=True)
class ContactMix:
    """How likely each step of a journey makes the customer write."""

    about_delay: float = 0.6
    about_shipment: float = 0.06
    about_return: float = 0.4
    about_repair: float = 0.5
    about_cancellation: float = 0.2
    follow_up: float = 0.25
    duplicate: float = 0.05


@dataclass(frozen=True)
class ScheduledContact:
    due: datetime
    contact: ContactReceived

    @property
    def via_gateway(self) -> bool:
        return self.contact.channel in GATEWAY_CHANNELS


# Subject and body per topic. Worded so intake's default rules file each under the topic's category
# (the agents answer by category), and so that no sentence depends on who writes it: Polish past
# tenses carry the writer's gender.
TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "pl": {
        "delay": ("Gdzie jest moja paczka?", "Zamówienie {order} miało dotrzeć wczoraj. Kiedy je dostanę?"),
        "shipment": ("Status przesyłki", "Status przesyłki z zamówienia {order} nie zmienia się od wczoraj."),
        "return": ("Zwrot towaru", "Chcę zwrócić zamówienie {order}. Skąd mogę pobrać etykietę zwrotną?"),
        "repair": (
            "Naprawa gwarancyjna",
            "Co słychać w sprawie naprawy produktu z zamówienia {order}? Minął już tydzień.",
        ),
        "cancellation": (
            "Płatność za anulowane zamówienie",
            "Zamówienie {order} zostało anulowane. Kiedy pieniądze wrócą na moje konto?",
        ),
        "presale": (
            "Pytanie o produkt",
            "Czy czajnik wyłącza się sam po zagotowaniu wody i ma filtr antywapienny?",
        ),
        "follow_up": ("Re: {subject}", "Czy coś już wiadomo w tej sprawie? Nadal czekam na odpowiedź."),
    },
    "en": {
        "delay": ("Where is my parcel?", "Order {order} was due yesterday. When will it arrive?"),
        "shipment": ("Shipment status", "Tracking for order {order} has not changed since yesterday."),
        "return": ("Return", "I would like to return order {order}. How do I get a return label?"),
        "repair": ("Warranty repair", "Any news on the repair from order {order}? It has been a week."),
        "cancellation": (
            "Payment for a cancelled order",
            "Order {order} was cancelled. When will the payment be back on my card?",
        ),
        "presale": (
            "Product question",
            "Does the kettle switch itself off once the water boils, and is a limescale filter available?",
        ),
        "follow_up": ("Re: {subject}", "Is there any news on this? I am still waiting for an answer."),
    },
}

# After which step a customer may write, how likely (a ContactMix field), about what, and how long after.
TRIGGERS: tuple[tuple[str, str, str, tuple[float, float]], ...] = (
    ("order.delayed", "about_delay", "delay", (1.0, 12.0)),
    ("order.out_for_delivery", "about_shipment", "shipment", (0.5, 3.0)),
    ("return.requested", "about_return", "return", (1.0, 24.0)),
    ("repair.received", "about_repair", "repair", (72.0, 192.0)),
    ("order.cancelled", "about_cancellation", "cancellation", (2.0, 48.0)),
)


def pick_channel(rng: random.Random) -> Channel:
    channels = list(CHANNEL_WEIGHTS)
    return rng.choices(channels, weights=[CHANNEL_WEIGHTS[c] for c in channels])[0]


def _texts(locale: str) -> dict[str, tuple[str, str]]:
    return TEXTS.get(locale.split("-")[0], TEXTS["en"])


def compose(
    rng: random.Random,
    shop_id: str,
    customer: Customer,
    topic: str,
    due: datetime,
    ref: str,
    *,
    order_id: str | None = None,
    mix: ContactMix | None = None,
) -> list[ScheduledContact]:
    """One customer message about `topic` on a channel of their choice, maybe followed up on the same
    thread, maybe delivered twice by the gateway. `ref` makes its message ids unique."""
    mix = mix or ContactMix()
    channel = pick_channel(rng)
    subject, body = _texts(customer.locale)[topic]
    who: dict[str, str | None] = {"customer_name": customer.name}
    if channel is Channel.PHONE:
        who["customer_phone"] = phone_of(customer)
    elif channel is Channel.SOCIAL:
        who["customer_handle"] = handle_of(customer)
    else:
        who["customer_email"] = customer.email
    thread = f"{channel.value}-{ref}"
    first = ContactReceived(
        shop_id=shop_id,
        channel=channel,
        customer_locale=customer.locale,
        order_id=order_id,
        subject=subject,
        body=body.format(order=order_id or ""),
        channel_message_id=f"{thread}-1",
        thread_id=thread,
        **who,
    )
    out = [ScheduledContact(due, first)]
    if rng.random() < mix.duplicate:
        out.append(ScheduledContact(due + timedelta(minutes=rng.uniform(1, 10)), first))
    if rng.random() < mix.follow_up:
        follow_subject, follow_body = _texts(customer.locale)["follow_up"]
        later = first.model_copy(
            update={
                "subject": follow_subject.format(subject=subject),
                "body": follow_body,
                "channel_message_id": f"{thread}-2",
            }
        )
        out.append(ScheduledContact(due + timedelta(hours=rng.uniform(1, 8)), later))
    return out


def contacts_for_journey(
    rng: random.Random, journey: Sequence[ScheduledEvent], *, mix: ContactMix | None = None
) -> list[ScheduledContact]:
    """The messages one order's customer writes in reaction to its journey, in time order."""
    mix = mix or ContactMix()
    out: list[ScheduledContact] = []
    for step in journey:
        for event_type, share, topic, (low, high) in TRIGGERS:
            if step.event.type != event_type or rng.random() >= getattr(mix, share):
                continue
            data = step.event.data
            due = step.due + timedelta(hours=rng.uniform(low, high))
            out += compose(
                rng,
                data.shop_id,
                data.customer,
                topic,
                due,
                f"{data.order_id}-{topic}",
                order_id=data.order_id,
                mix=mix,
            )
    out.sort(key=lambda c: c.due)
    return out


def walk_in_contacts(
    rng: random.Random,
    shop_id: str,
    start: datetime,
    count: int,
    *,
    first_customer_no: int,
    locale: str = "pl",
    mix: ContactMix | None = None,
) -> list[ScheduledContact]:
    """Questions from people without an order (yet), spread over the 24 hours from `start`."""
    out: list[ScheduledContact] = []
    for n in range(count):
        customer = customer_for(rng, first_customer_no + n, locale)
        due = start + timedelta(seconds=rng.uniform(0, 24 * 3600))
        out += compose(rng, shop_id, customer, "presale", due, f"{customer.id}-presale", mix=mix)
    out.sort(key=lambda c: c.due)
    return out
