"""The texts intake writes to customers by itself: the automatic answer to "where is my order?" and
the reminder on a ticket pending on them. Polish and English defaults, a shop's own template per
language instead (domain/settings.py), rendered in the shared sandbox (schemas/templates.py).

The answer's variables: `order_id`, `status` (the order's status as the customer should read it: an
order in transit past its promised date is `delayed`), `status_date`, `carrier`, `tracking_number`,
`tracking_url`, `expected_by` (the promised delivery date unless it has passed), `delay_reason`,
`notice_sent` and `notice_date` (the shop told the customer of the delay then), `total`, `currency`,
`lines` (each with `sku`, `name`, `quantity`), `customer_name`, `shop_name`. The reminder's:
`ticket_id`, `subject`, `solve_date` (when the ticket will be solved, if the shop solves them),
`customer_name`, `shop_name`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from schemas.templates import render_text

from .orders import OrderContext

_HELLO = {
    "pl": "Dzień dobry{% if customer_name %} {{ customer_name }}{% endif %},\n",
    "en": "Hello{% if customer_name %} {{ customer_name }}{% endif %},\n",
}
_BYE = {"pl": "\n\nPozdrawiamy,\n{{ shop_name }}", "en": "\n\nBest regards,\n{{ shop_name }}"}

_ANSWER_EN = (
    "this is an automatic answer about your order {{ order_id }}.\n"
    "{% if status == 'delivered' %}Our records show it was delivered on {{ status_date }}."
    "{% elif status == 'delayed' %}It is running late{% if delay_reason %}: {{ delay_reason }}{% endif %}."
    "{% if notice_sent %} We let you know about this delay on {{ notice_date }}.{% endif %}"
    "{% if expected_by %} We now expect to deliver it by {{ expected_by }}.{% endif %}"
    "{% elif status == 'out_for_delivery' %}It is out for delivery today."
    "{% elif status == 'shipped' %}It is on its way{% if carrier %} with {{ carrier }}{% endif %}"
    "{% if expected_by %}, expected by {{ expected_by }}{% endif %}."
    "{% else %}We have it and are preparing it for shipping"
    "{% if expected_by %}; expected delivery by {{ expected_by }}{% endif %}.{% endif %}"
    "{% if tracking_number %}\nTracking number: {{ tracking_number }}"
    "{% if tracking_url %}, track it here: {{ tracking_url }}{% endif %}{% endif %}\n"
    "If this does not answer your question, just reply and a person from our team will take over."
)
_ANSWER_PL = (
    "to automatyczna odpowiedź w sprawie zamówienia {{ order_id }}.\n"
    "{% if status == 'delivered' %}Według naszych danych zostało doręczone {{ status_date }}."
    "{% elif status == 'delayed' %}Zamówienie jest opóźnione"
    "{% if delay_reason %}: {{ delay_reason }}{% endif %}."
    "{% if notice_sent %} Informowaliśmy o tym opóźnieniu {{ notice_date }}.{% endif %}"
    "{% if expected_by %} Nowy przewidywany termin dostawy: {{ expected_by }}.{% endif %}"
    "{% elif status == 'out_for_delivery' %}Kurier doręczy je dzisiaj."
    "{% elif status == 'shipped' %}Jest w drodze{% if carrier %} ({{ carrier }}){% endif %}"
    "{% if expected_by %}, planowana dostawa: {{ expected_by }}{% endif %}."
    "{% else %}Przygotowujemy je do wysyłki"
    "{% if expected_by %}; planowana dostawa: {{ expected_by }}{% endif %}.{% endif %}"
    "{% if tracking_number %}\nNumer przesyłki: {{ tracking_number }}"
    "{% if tracking_url %}, śledzenie: {{ tracking_url }}{% endif %}{% endif %}\n"
    "Jeśli to nie odpowiada na Twoje pytanie, po prostu odpisz, a zajmie się tym ktoś z naszego zespołu."
)
_REMINDER_EN = (
    "we are still waiting for your answer about “{{ subject }}” (request {{ ticket_id }}). "
    "Just reply to this message."
    "{% if solve_date %} If we do not hear from you, we will consider the request solved on "
    "{{ solve_date }}.{% endif %}"
)
_REMINDER_PL = (
    "czekamy na Twoją odpowiedź w sprawie „{{ subject }}” (zgłoszenie {{ ticket_id }}). "
    "Wystarczy odpowiedzieć na tę wiadomość."
    "{% if solve_date %} Jeśli się nie odezwiesz, uznamy zgłoszenie za rozwiązane {{ solve_date }}."
    "{% endif %}"
)

DEFAULT_ANSWERS = {
    lang: _HELLO[lang] + body + _BYE[lang] for lang, body in (("pl", _ANSWER_PL), ("en", _ANSWER_EN))
}
DEFAULT_REMINDERS = {
    lang: _HELLO[lang] + body + _BYE[lang] for lang, body in (("pl", _REMINDER_PL), ("en", _REMINDER_EN))
}


@dataclass(frozen=True)
class Written:
    text: str
    template: str
    """'default', 'shop' or 'default (shop template failed: …)': why the customer got this text."""


def written(
    lang: str, context: Mapping[str, Any], defaults: Mapping[str, str], own: Mapping[str, str]
) -> Written:
    """The shop's template of `lang` rendered, else the default; a shop template that fails to render
    falls back to the default instead of leaving the customer without an answer."""
    default = defaults.get(lang, defaults["en"])
    source = own.get(lang)
    if source is not None:
        try:
            return Written(render_text(source, context), "shop")
        except Exception as exc:  # a shop's template must never stop the answer
            return Written(render_text(default, context), f"default (shop template failed: {exc})"[:300])
    return Written(render_text(default, context), "default")


def answer_context(
    order_id: str,
    order: OrderContext,
    today: date,
    notice_at: datetime | None,
    customer_name: str | None,
    shop_name: str,
    tz: tzinfo,
) -> dict[str, Any]:
    """What the answer's template sees of the order (the module's docstring lists it); `today` and
    the dates are the shop's (`tz`)."""
    promised = order.promised_delivery_date
    shipment = order.shipment
    contents = order.contents
    return {
        "order_id": order_id,
        "status": order.effective_status(today).value,
        "status_date": order.status_at.astimezone(tz).date().isoformat(),
        "carrier": shipment.carrier if shipment else None,
        "tracking_number": shipment.tracking_number if shipment else None,
        "tracking_url": shipment.tracking_url if shipment else None,
        "expected_by": promised.isoformat() if promised is not None and promised >= today else None,
        "delay_reason": order.delay_reason or None,
        "notice_sent": notice_at is not None,
        "notice_date": notice_at.astimezone(tz).date().isoformat() if notice_at is not None else None,
        "total": str(contents.total) if contents else None,
        "currency": contents.currency if contents else None,
        "lines": [{"sku": i.sku, "name": i.name, "quantity": i.quantity} for i in contents.lines]
        if contents
        else [],
        "customer_name": customer_name,
        "shop_name": shop_name,
    }


def reminder_context(
    ticket_id: str, subject: str, solve_on: date | None, customer_name: str | None, shop_name: str
) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "subject": subject or ticket_id,
        "solve_date": solve_on.isoformat() if solve_on is not None else None,
        "customer_name": customer_name,
        "shop_name": shop_name,
    }
