from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.v1.orders import ORDER_EVENT_TYPES
from services.notify.domain.payload import message_context
from services.notify.domain.templates import (
    DEFAULT_TEMPLATES,
    LANGUAGES,
    MessageTemplate,
    language,
    render_message,
    template_problem,
)

SHIPPED: dict[str, Any] = {
    "shop_id": "shop-a",
    "order_id": "PL-1001",
    "customer": {"id": "c1", "name": "Anna", "locale": "pl-PL", "email": None, "phone": None},
    "carrier": "InPost",
    "tracking_number": "TRK-9",
    "tracking_url": None,
    "promised_delivery_date": "2026-01-08",
}


def test_polish_default_for_a_polish_customer() -> None:
    message = render_message("order.shipped", "pl", message_context(SHIPPED, "Sklep A"), None)
    assert message is not None
    assert message.subject == "Zamówienie PL-1001 zostało wysłane"
    assert message.text.startswith("Dzień dobry Anna,\nTwoje zamówienie PL-1001 jest w drodze (InPost")
    assert message.text.endswith("Pozdrawiamy,\nSklep A")
    assert "Śledzenie" not in message.text  # no tracking URL, no line for it
    assert message.source == "default"


def test_every_shipped_event_type_has_both_languages_and_renders() -> None:
    for event_type in ORDER_EVENT_TYPES:
        assert set(DEFAULT_TEMPLATES[event_type]) == set(LANGUAGES), event_type
    for event_type in ("order.promise_breached", "survey.invited", "ticket.created", "ticket.solved"):
        assert set(DEFAULT_TEMPLATES[event_type]) == set(LANGUAGES), event_type


def test_shop_override_wins_and_plain_text_is_not_escaped() -> None:
    override = MessageTemplate("<{{ order_id }}>", 'Paczka & {{ carrier }} "już" jedzie')
    message = render_message("order.shipped", "pl", message_context(SHIPPED, "A"), override)
    assert message is not None
    assert (message.subject, message.text, message.source) == (
        "<PL-1001>",
        'Paczka & InPost "już" jedzie',
        "shop",
    )


@pytest.mark.parametrize(
    "hostile",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ customer.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    ],
)
def test_a_hostile_override_cannot_execute_code_and_falls_back_to_the_default(hostile: str) -> None:
    message = render_message(
        "order.shipped", "en", message_context(SHIPPED, "A"), MessageTemplate("x", hostile)
    )
    assert message is not None
    assert message.source.startswith("default (shop template failed:")
    assert message.subject == "Order PL-1001 has shipped"


def test_template_problems_are_reported() -> None:
    assert template_problem("Hello {{ name ") is not None
    assert template_problem("x" * 10_001) == "template longer than 10000 characters"
    assert template_problem("Hello {{ customer.name }}") is None


def test_event_types_without_a_message() -> None:
    assert render_message("ticket.first_response", "en", {}, None) is None


@pytest.mark.parametrize(
    ("customer", "shop", "expected"),
    [
        ("pl-PL", "en", "pl"),
        ("en_GB", "pl", "en"),
        ("de-DE", "pl", "pl"),
        (None, "fr", "en"),
        ("", None, "en"),
    ],
)
def test_language_choice(customer: str | None, shop: str | None, expected: str) -> None:
    assert language(customer, shop) == expected


@given(st.text(max_size=50), st.text(max_size=50))
def test_language_is_always_a_shipped_one(customer: str, shop: str) -> None:
    assert language(customer, shop) in LANGUAGES


@given(st.text(max_size=200))
def test_customer_supplied_values_are_rendered_verbatim_never_evaluated(name: str) -> None:
    data = {**SHIPPED, "customer": {**SHIPPED["customer"], "name": name}, "carrier": name or "X"}
    message = render_message("order.shipped", "en", message_context(data, "A"), None)
    assert message is not None
    assert (name or "X") in message.text
