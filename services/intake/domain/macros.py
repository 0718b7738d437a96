"""Macros: a shop's canned replies, one text per language, with the customer's and the order's
details filled in, rendered in the template sandbox notify's messages use (schemas/templates.py).

The variables a macro sees (empty text when the ticket does not know it):
`customer_name`, `customer_email`, `order_id` (the order number), `order_status` (its code, e.g.
`shipped`; an order in transit past its promised date is `delayed`), `order_status_text` (the same in
the macro's language), `tracking_url`, `tracking_number`, `carrier`, `promised_date` (the promised
delivery date, written the language's way), `ticket_id`, `subject`, `shop_name`, `agent_name`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from schemas.templates import LANGUAGES, language, render_text, template_problem

from .orders import OrderContext, OrderStatus

VARIABLES = (
    "customer_name",
    "customer_email",
    "order_id",
    "order_status",
    "order_status_text",
    "tracking_url",
    "tracking_number",
    "carrier",
    "promised_date",
    "ticket_id",
    "subject",
    "shop_name",
    "agent_name",
)

_STATUS_WORDS: dict[str, dict[OrderStatus, str]] = {
    "en": {status: status.value.replace("_", " ") for status in OrderStatus},
    "pl": {
        OrderStatus.CREATED: "przyjęte",
        OrderStatus.PAID: "opłacone",
        OrderStatus.SHIPPED: "wysłane",
        OrderStatus.OUT_FOR_DELIVERY: "w doręczeniu",
        OrderStatus.DELIVERED: "doręczone",
        OrderStatus.DELAYED: "opóźnione",
        OrderStatus.CANCELLED: "anulowane",
        OrderStatus.RETURN_REQUESTED: "zgłoszony zwrot",
        OrderStatus.RETURN_RECEIVED: "zwrot przyjęty",
        OrderStatus.REFUNDED: "zwrócono pieniądze",
        OrderStatus.REPAIR_RECEIVED: "przyjęte do naprawy",
        OrderStatus.REPAIR_COMPLETED: "naprawione",
    },
}
_MONTHS_EN = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


class MacroNotFound(LookupError):
    def __init__(self, macro_id: str) -> None:
        super().__init__(f"macro {macro_id} not found")


class MacroFailed(ValueError):
    """The macro cannot be rendered for this ticket (or, when saved, for any)."""


@dataclass(frozen=True)
class Macro:
    shop_id: str
    id: str
    name: str
    texts: Mapping[str, str]
    """language ("pl", "en") -> template."""


@dataclass(frozen=True)
class Rendered:
    text: str
    language: str


@dataclass(frozen=True)
class MacroFacts:
    """What a macro is filled with: the ticket's, its order's, the shop's and the writer's."""

    ticket_id: str
    subject: str
    customer_name: str | None
    customer_email: str | None
    customer_locale: str | None
    order_id: str | None
    order: OrderContext | None
    shop_name: str
    shop_locale: str | None
    agent_name: str | None
    today: date


def written_date(day: date, lang: str) -> str:
    if lang == "pl":
        return day.strftime("%d.%m.%Y")
    return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"


def context(facts: MacroFacts, lang: str) -> dict[str, Any]:
    order = facts.order
    shipment = order.shipment if order is not None else None
    status = order.effective_status(facts.today) if order is not None else None
    promised = order.promised_delivery_date if order is not None else None
    values = {
        "customer_name": facts.customer_name,
        "customer_email": facts.customer_email,
        "order_id": facts.order_id,
        "order_status": status.value if status else None,
        "order_status_text": _STATUS_WORDS.get(lang, _STATUS_WORDS["en"])[status] if status else None,
        "tracking_url": shipment.tracking_url if shipment else None,
        "tracking_number": shipment.tracking_number if shipment else None,
        "carrier": shipment.carrier if shipment else None,
        "promised_date": written_date(promised, lang) if promised else None,
        "ticket_id": facts.ticket_id,
        "subject": facts.subject,
        "shop_name": facts.shop_name,
        "agent_name": facts.agent_name,
    }
    return {name: "" if value is None else value for name, value in values.items()}


def choose_language(macro: Macro, customer_locale: str | None, shop_locale: str | None) -> str:
    """The customer's language if the macro has it, else the shop's, else English, else any."""
    for lang in (language(customer_locale, None), language(shop_locale, None), "en"):
        if lang in macro.texts:
            return lang
    return sorted(macro.texts)[0]


def render(macro: Macro, facts: MacroFacts) -> Rendered:
    lang = choose_language(macro, facts.customer_locale, facts.shop_locale)
    try:
        text = render_text(macro.texts[lang], context(facts, lang))
    except Exception as exc:  # whatever the sandbox raises: the macro is the shop's text
        raise MacroFailed(f"macro {macro.id} ({lang}) does not render: {exc}") from None
    if not text:
        raise MacroFailed(f"macro {macro.id} ({lang}) renders to nothing for this ticket")
    return Rendered(text, lang)


SAMPLE = MacroFacts(
    ticket_id="tkt_sample",
    subject="Where is my order?",
    customer_name="Anna",
    customer_email="anna@example.com",
    customer_locale="en",
    order_id="1001",
    order=None,
    shop_name="Shop",
    shop_locale="en",
    agent_name="Ola",
    today=date(2026, 1, 1),
)


def problems(texts: Mapping[str, str]) -> list[str]:
    """Why these texts cannot be a macro: an unknown language, a template that does not compile or
    names a variable no macro has (checked by rendering it with every variable given)."""
    found = [f"{lang}: not one of {', '.join(LANGUAGES)}" for lang in texts if lang not in LANGUAGES]
    if not texts:
        found.append("a macro needs a text in at least one language")
    for lang, source in texts.items():
        problem = template_problem(source)
        if problem is None:
            try:
                render_text(source, context(SAMPLE, lang))
            except Exception as exc:  # the sandbox's refusal, an unknown variable
                problem = f"does not render: {exc}"
        if problem is not None:
            found.append(f"{lang}: {problem}")
    return found
