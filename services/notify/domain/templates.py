"""Ready-to-send customer messages: Polish and English defaults per event type, overridable per shop.

Rendered in the shared template sandbox (schemas/templates.py): Jinja's sandbox (no attribute tricks,
no code execution), without autoescaping, because the output is plain text for e-mail/SMS, not HTML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.templates import (
    LANGUAGES,
    MAX_TEMPLATE_CHARS,
    MessageTemplate,
    language,
    render,
    template_problem,
)
from services.notify.domain.alerts import STAFF_EVENT_TYPES, STAFF_TEMPLATES

__all__ = [
    "DEFAULT_TEMPLATES",
    "LANGUAGES",
    "MAX_TEMPLATE_CHARS",
    "STAFF_DEFAULTS",
    "CustomerMessage",
    "MessageTemplate",
    "audience",
    "default_template",
    "language",
    "message_event_types",
    "render_message",
    "template_problem",
]


@dataclass(frozen=True)
class CustomerMessage:
    locale: str
    subject: str
    text: str
    source: str
    """'default', 'shop' or 'default (shop template failed: …)': why the shop sees this text."""

    def as_json(self) -> dict[str, str]:
        return {"locale": self.locale, "subject": self.subject, "text": self.text, "template": self.source}


_HELLO_PL = "Dzień dobry{% if customer.name %} {{ customer.name }}{% endif %},\n"
_HELLO_EN = "Hello{% if customer.name %} {{ customer.name }}{% endif %},\n"
_BYE_PL = "\n\nPozdrawiamy,\n{{ shop_name }}"
_BYE_EN = "\n\nBest regards,\n{{ shop_name }}"


def _pl(subject: str, body: str) -> MessageTemplate:
    return MessageTemplate(subject, _HELLO_PL + body + _BYE_PL)


def _en(subject: str, body: str) -> MessageTemplate:
    return MessageTemplate(subject, _HELLO_EN + body + _BYE_EN)


DEFAULT_TEMPLATES: dict[str, dict[str, MessageTemplate]] = {
    "order.created": {
        "pl": _pl(
            "Przyjęliśmy zamówienie {{ order_id }}",
            "dziękujemy za zamówienie {{ order_id }} "
            "na kwotę {{ total }} {{ currency }}. Damy znać, gdy zostanie wysłane.",
        ),
        "en": _en(
            "We received order {{ order_id }}",
            "thank you for order {{ order_id }} "
            "({{ total }} {{ currency }}). We will let you know when it ships.",
        ),
    },
    "order.paid": {
        "pl": _pl(
            "Płatność za zamówienie {{ order_id }} zaksięgowana",
            "otrzymaliśmy płatność w wysokości {{ amount }} {{ currency }} za zamówienie {{ order_id }}.",
        ),
        "en": _en(
            "Payment for order {{ order_id }} received",
            "we received your payment of {{ amount }} {{ currency }} for order {{ order_id }}.",
        ),
    },
    "order.shipped": {
        "pl": _pl(
            "Zamówienie {{ order_id }} zostało wysłane",
            "Twoje zamówienie {{ order_id }} jest w drodze ({{ carrier }}, numer przesyłki "
            "{{ tracking_number }}). Planowana dostawa: {{ promised_delivery_date }}."
            "{% if tracking_url %}\nŚledzenie: {{ tracking_url }}{% endif %}",
        ),
        "en": _en(
            "Order {{ order_id }} has shipped",
            "your order {{ order_id }} is on its way ({{ carrier }}, tracking number "
            "{{ tracking_number }}). Expected delivery: {{ promised_delivery_date }}."
            "{% if tracking_url %}\nTrack it: {{ tracking_url }}{% endif %}",
        ),
    },
    "order.out_for_delivery": {
        "pl": _pl(
            "Zamówienie {{ order_id }} dotrze do Ciebie dzisiaj",
            "kurier dostarczy dziś Twoje zamówienie {{ order_id }}.",
        ),
        "en": _en(
            "Order {{ order_id }} is out for delivery", "your order {{ order_id }} is out for delivery today."
        ),
    },
    "order.delivered": {
        "pl": _pl(
            "Zamówienie {{ order_id }} zostało doręczone",
            "Twoje zamówienie {{ order_id }} zostało doręczone. Miłego korzystania!",
        ),
        "en": _en("Order {{ order_id }} was delivered", "your order {{ order_id }} was delivered. Enjoy!"),
    },
    "order.delayed": {
        "pl": _pl(
            "Opóźnienie zamówienia {{ order_id }}",
            "przepraszamy, Twoje zamówienie {{ order_id }} jest opóźnione: {{ reason }}."
            "{% if new_promised_delivery_date %} Nowy termin dostawy: "
            "{{ new_promised_delivery_date }}.{% endif %}",
        ),
        "en": _en(
            "Order {{ order_id }} is delayed",
            "we are sorry, your order {{ order_id }} is delayed: {{ reason }}."
            "{% if new_promised_delivery_date %} New delivery date: "
            "{{ new_promised_delivery_date }}.{% endif %}",
        ),
    },
    "order.cancelled": {
        "pl": _pl(
            "Zamówienie {{ order_id }} anulowane",
            "zamówienie {{ order_id }} zostało anulowane.{% if reason %} Powód: {{ reason }}.{% endif %}",
        ),
        "en": _en(
            "Order {{ order_id }} cancelled",
            "order {{ order_id }} was cancelled.{% if reason %} Reason: {{ reason }}.{% endif %}",
        ),
    },
    "return.requested": {
        "pl": _pl(
            "Zgłoszenie zwrotu {{ return_id }}",
            "przyjęliśmy zgłoszenie zwrotu {{ return_id }} do zamówienia {{ order_id }}.",
        ),
        "en": _en(
            "Return {{ return_id }} requested",
            "we registered return {{ return_id }} for order {{ order_id }}.",
        ),
    },
    "return.received": {
        "pl": _pl(
            "Zwrot {{ return_id }} dotarł do nas",
            "zwrot {{ return_id }} do zamówienia {{ order_id }} dotarł do nas; wkrótce go rozliczymy.",
        ),
        "en": _en(
            "We received return {{ return_id }}",
            "return {{ return_id }} for order {{ order_id }} has arrived; we will process it shortly.",
        ),
    },
    "refund.issued": {
        "pl": _pl(
            "Zwrot środków za zamówienie {{ order_id }}",
            "zleciliśmy zwrot {{ amount }} {{ currency }} za zamówienie {{ order_id }}.",
        ),
        "en": _en(
            "Refund for order {{ order_id }}",
            "we issued a refund of {{ amount }} {{ currency }} for order {{ order_id }}.",
        ),
    },
    "repair.received": {
        "pl": _pl(
            "Reklamacja {{ repair_id }} przyjęta",
            "otrzymaliśmy produkt do reklamacji {{ repair_id }}. Odpowiemy w ciągu "
            "{% if turnaround_days == 1 %}jednego dnia{% else %}{{ turnaround_days }} dni{% endif %}.",
        ),
        "en": _en(
            "Repair {{ repair_id }} received",
            "we received your item for repair {{ repair_id }} and will answer within "
            "{% if turnaround_days == 1 %}one day{% else %}{{ turnaround_days }} days{% endif %}.",
        ),
    },
    "repair.completed": {
        "pl": _pl(
            "Reklamacja {{ repair_id }} zakończona",
            "{% if outcome == 'rejected' %}niestety reklamacja {{ repair_id }} została rozpatrzona "
            "negatywnie.{% else %}reklamacja {{ repair_id }} została rozpatrzona: "
            "{% if outcome == 'replaced' %}wymieniliśmy produkt na nowy"
            "{% elif outcome == 'refunded' %}zwracamy Ci pieniądze za produkt"
            "{% else %}produkt został naprawiony{% endif %}.{% endif %}",
        ),
        "en": _en(
            "Repair {{ repair_id }} completed",
            "{% if outcome == 'rejected' %}we have reviewed repair {{ repair_id }} and unfortunately "
            "cannot accept the claim.{% else %}repair {{ repair_id }} is complete: "
            "{% if outcome == 'replaced' %}we have replaced your item with a new one"
            "{% elif outcome == 'refunded' %}we are refunding the price of the item"
            "{% else %}your item has been repaired{% endif %}.{% endif %}",
        ),
    },
    "order.promise_breached": {
        "pl": _pl(
            "Przepraszamy za opóźnienie zamówienia {{ order_id }}",
            "nie udało nam się dotrzymać obiecanego terminu dla zamówienia {{ order_id }}. Zajmujemy się "
            "tym i odezwiemy się, gdy tylko ustalimy nowy termin.",
        ),
        "en": _en(
            "Sorry, order {{ order_id }} is running late",
            "we missed the date we promised for order {{ order_id }}. We are on it and will get back "
            "to you as soon as we have a new date.",
        ),
    },
    "survey.invited": {
        "pl": _pl(
            "Jak nam poszło?",
            "będziemy wdzięczni za krótką opinię. Odpowiedź zajmie tylko chwilę: {{ link }}",
        ),
        "en": _en(
            "How did we do?",
            "we would appreciate your quick feedback. It only takes a moment: {{ link }}",
        ),
    },
    "ticket.created": {
        "pl": _pl(
            "Otrzymaliśmy Twoją wiadomość ({{ ticket_id }})",
            "dziękujemy za kontakt. Twoje zgłoszenie ma numer {{ ticket_id }}; odpowiemy wkrótce.",
        ),
        "en": _en(
            "We received your message ({{ ticket_id }})",
            "thank you for reaching out. Your request number is {{ ticket_id }}; we will reply soon.",
        ),
    },
    "ticket.solved": {
        "pl": _pl(
            "Zgłoszenie {{ ticket_id }} rozwiązane",
            "Twoje zgłoszenie {{ ticket_id }} zostało rozwiązane. Jeśli potrzebujesz dalszej pomocy, "
            "po prostu odpowiedz na tę wiadomość.",
        ),
        "en": _en(
            "Request {{ ticket_id }} solved",
            "your request {{ ticket_id }} has been solved. If you need anything else, just reply to this "
            "message.",
        ),
    },
}


STAFF_DEFAULTS: dict[str, dict[str, MessageTemplate]] = {
    event_type: {lang: MessageTemplate(*sources) for lang, sources in by_language.items()}
    for event_type, by_language in STAFF_TEMPLATES.items()
}
"""The staff alerts (`alerts.py`): rendered, overridden and listed like the customer messages, but
written for the shop's people, so they neither greet a customer nor sign with the shop's name."""


def default_template(event_type: str, lang: str) -> MessageTemplate | None:
    """The default message of an event type in a language: a customer message or a staff alert."""
    return (DEFAULT_TEMPLATES.get(event_type) or STAFF_DEFAULTS.get(event_type) or {}).get(lang)


def message_event_types() -> list[str]:
    """Every event type with a default message, customer messages and staff alerts alike."""
    return sorted({*DEFAULT_TEMPLATES, *STAFF_DEFAULTS})


def audience(event_type: str) -> str:
    """Who the event type's message is written for: `staff` (SLA alerts) or `customer`."""
    return "staff" if event_type in STAFF_EVENT_TYPES else "customer"


def render_message(
    event_type: str, lang: str, context: Mapping[str, Any], override: MessageTemplate | None
) -> CustomerMessage | None:
    """The customer message for this event, or None for an event type without a customer message.
    A shop template that fails to render falls back to the default instead of losing the event."""
    default = default_template(event_type, lang)
    if override is not None:
        try:
            subject, text = render(override, context)
            return CustomerMessage(lang, subject, text, "shop")
        except Exception as exc:  # a shop's template must never stop its events
            if default is None:
                return None
            subject, text = render(default, context)
            return CustomerMessage(lang, subject, text, f"default (shop template failed: {exc})"[:300])
    if default is None:
        return None
    subject, text = render(default, context)
    return CustomerMessage(lang, subject, text, "default")
