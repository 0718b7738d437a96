from __future__ import annotations

from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.v1.orders import ORDER_EVENT_TYPES, RepairCompleted
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


# Every field any default template reads, so each one renders under StrictUndefined.
EVERY_FIELD: dict[str, Any] = {
    **SHIPPED,
    "total": "199.00",
    "amount": "199.00",
    "currency": "PLN",
    "tracking_url": "https://track.example/TRK-9",
    "reason": "brak towaru",
    "new_promised_delivery_date": "2026-01-10",
    "return_id": "RET-1",
    "repair_id": "REP-1",
    "turnaround_days": 14,
    "outcome": "repaired",
    "link": "https://careloop.example/s/token",
    "ticket_id": "T-1",
}
SHOP_NAME = "«Zielona Łąka» sp. z o.o."  # a name no default sentence could decline or contain


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("event_type", sorted(DEFAULT_TEMPLATES))
def test_the_shop_name_stands_alone_as_the_signature_never_inside_a_sentence(
    event_type: str, lang: str
) -> None:
    message = render_message(event_type, lang, message_context(EVERY_FIELD, SHOP_NAME), None)
    assert message is not None
    assert SHOP_NAME not in message.subject
    assert [line for line in message.text.splitlines() if SHOP_NAME in line] == [SHOP_NAME]
    assert message.text.endswith(("Pozdrawiamy,\n" if lang == "pl" else "Best regards,\n") + SHOP_NAME)


REPAIR_OUTCOMES = {
    ("pl", "repaired"): "reklamacja REP-1 została rozpatrzona: produkt został naprawiony.",
    ("pl", "replaced"): "reklamacja REP-1 została rozpatrzona: wymieniliśmy produkt na nowy.",
    ("pl", "refunded"): "reklamacja REP-1 została rozpatrzona: zwracamy Ci pieniądze za produkt.",
    ("pl", "rejected"): "niestety reklamacja REP-1 została rozpatrzona negatywnie.",
    ("en", "repaired"): "repair REP-1 is complete: your item has been repaired.",
    ("en", "replaced"): "repair REP-1 is complete: we have replaced your item with a new one.",
    ("en", "refunded"): "repair REP-1 is complete: we are refunding the price of the item.",
    ("en", "rejected"): "we have reviewed repair REP-1 and unfortunately cannot accept the claim.",
}


def test_every_repair_outcome_has_its_sentence_in_both_languages() -> None:
    outcomes = get_args(RepairCompleted.model_fields["outcome"].annotation)
    assert {(lang, o) for lang in LANGUAGES for o in outcomes} == set(REPAIR_OUTCOMES)


@pytest.mark.parametrize(("lang", "outcome"), list(REPAIR_OUTCOMES))
def test_a_repair_outcome_is_told_in_words_not_as_its_code(lang: str, outcome: str) -> None:
    data = {**EVERY_FIELD, "outcome": outcome}
    message = render_message("repair.completed", lang, message_context(data, "Sklep A"), None)
    assert message is not None
    assert message.text.splitlines()[1] == REPAIR_OUTCOMES[(lang, outcome)]
    if lang == "pl":
        assert outcome not in message.text


@pytest.mark.parametrize(
    ("lang", "days", "expected"),
    [
        ("pl", 1, "Odpowiemy w ciągu jednego dnia."),
        ("pl", 14, "Odpowiemy w ciągu 14 dni."),
        ("en", 1, "will answer within one day."),
        ("en", 14, "will answer within 14 days."),
    ],
)
def test_the_repair_turnaround_agrees_with_its_number(lang: str, days: int, expected: str) -> None:
    data = {**EVERY_FIELD, "turnaround_days": days}
    message = render_message("repair.received", lang, message_context(data, "Sklep A"), None)
    assert message is not None
    assert message.text.splitlines()[1].endswith(expected)


@pytest.mark.parametrize(
    ("lang", "subject", "line"),
    [
        (
            "pl",
            "Jak nam poszło?",
            "będziemy wdzięczni za krótką opinię. Odpowiedź zajmie tylko chwilę: "
            "https://careloop.example/s/token",
        ),
        (
            "en",
            "How did we do?",
            "we would appreciate your quick feedback. It only takes a moment: https://careloop.example/s/token",
        ),
    ],
)
def test_the_survey_invitation_reads_in_both_languages(lang: str, subject: str, line: str) -> None:
    message = render_message("survey.invited", lang, message_context(EVERY_FIELD, "Sklep A"), None)
    assert message is not None
    assert message.subject == subject
    assert message.text.splitlines()[1] == line
