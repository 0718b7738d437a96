"""Automatic answers without Postgres: which tickets get one and about which order, what the answer
says in each language and order state, what it does to the ticket, and what writing back does."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.v1.contacts import Channel
from schemas.v1.tickets import Author, Category, Priority, TicketSource, TicketStatus
from services.intake.domain import answers, automatic
from services.intake.domain.orders import Contents, OrderContext, OrderItem, OrderStatus, Shipment
from services.intake.domain.rules import DEFAULT_RULES
from services.intake.domain.settings import AutomaticAnswers, Housekeeping
from services.intake.domain.threading import IncomingMessage, TicketSummary, continued_ticket
from services.intake.domain.ticket import Message, Opening, Ticket, TicketCustomer

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WARSAW = ZoneInfo("Europe/Warsaw")
ANNA = TicketCustomer(key="email:anna@example.com", email="Anna@Example.com", name="Anna", locale="en")
SHIPPED = OrderContext(
    OrderStatus.SHIPPED,
    T0 - timedelta(days=1),
    "c-1",
    "anna@example.com",
    "en",
    date(2026, 3, 4),
    shipment=Shipment("InPost", "TRK-1", "https://t.example/TRK-1"),
    shipped_at=T0 - timedelta(days=1),
    contents=Contents(Decimal("99.90"), "PLN", (OrderItem("K-1", "Kettle", 1, Decimal("99.90")),)),
)


def new_ticket(body: str = "Where is my parcel?", **fields: Any) -> Ticket:
    values: dict[str, Any] = {
        "ticket_id": "t-1",
        "shop_id": "shop-a",
        "channel": Channel.EMAIL,
        "source": TicketSource.CONTACT,
        "source_ref": None,
        "subject": "",
        "customer": ANNA,
        "order_id": "o-1",
    }
    first = Message(id="m-1", author=Author.CUSTOMER, body=body, at=T0)
    return Ticket.open(Opening(**(values | fields)), first, DEFAULT_RULES, OrderStatus.SHIPPED).ticket


def test_a_where_is_my_order_ticket_is_one_an_answer_could_settle() -> None:
    assert automatic.asks_where(new_ticket())
    assert not automatic.asks_where(new_ticket("Is it available in size M?"))  # a product question
    assert not automatic.asks_where(new_ticket(channel=Channel.PHONE))
    assert not automatic.asks_where(new_ticket("Where is it? My lawyer will call."))  # urgent
    assert not automatic.asks_where(new_ticket(repeat_of="t-0"))
    assert not automatic.asks_where(
        new_ticket(source=TicketSource.SLA_PROMISE, category=Category.DELIVERY_DELAY)
    )


def test_the_order_asked_about_is_the_named_one_or_the_only_open_one_and_the_customers() -> None:
    ticket = new_ticket()
    found = automatic.order_in_question(ticket, SHIPPED, [])
    assert found is not None
    assert found.order_id == "o-1"  # the e-mail matches whatever its case
    assert automatic.order_in_question(ticket, None, [("o-2", SHIPPED)]) is None  # named, unknown
    someone_else = replace(SHIPPED, customer_email="mallory@example.com")
    assert automatic.order_in_question(ticket, someone_else, []) is None
    refunded = replace(SHIPPED, status=OrderStatus.REFUNDED)
    assert automatic.order_in_question(ticket, refunded, []) is None

    unnamed = replace(ticket, order_id=None)
    only = automatic.order_in_question(unnamed, None, [("o-7", SHIPPED)])
    assert only is not None
    assert only.order_id == "o-7"
    assert automatic.order_in_question(unnamed, None, [("o-7", SHIPPED), ("o-8", SHIPPED)]) is None
    assert automatic.order_in_question(unnamed, None, []) is None


def test_a_delay_counts_as_noticed_only_if_the_shop_sends_notices_and_it_came_first() -> None:
    delayed = replace(SHIPPED, status=OrderStatus.DELAYED, delayed_at=T0 - timedelta(hours=3))
    on = AutomaticAnswers(enabled=True, delay_notices=True)
    assert automatic.notice_at(on, delayed, T0) == T0 - timedelta(hours=3)
    assert automatic.notice_at(AutomaticAnswers(enabled=True), delayed, T0) is None
    assert automatic.notice_at(on, SHIPPED, T0) is None
    assert automatic.notice_at(on, delayed, T0 - timedelta(hours=4)) is None


def render(
    order: OrderContext, lang: str, today: date = date(2026, 3, 2), notice: datetime | None = None
) -> str:
    context = answers.answer_context("o-1", order, today, notice, "Anna", "Sklep A", WARSAW)
    return answers.written(lang, context, answers.DEFAULT_ANSWERS, {}).text


def test_the_default_answers_speak_for_each_order_state() -> None:
    text = render(SHIPPED, "en")
    assert text.startswith("Hello Anna,\nthis is an automatic answer about your order o-1.\n")
    assert "It is on its way with InPost, expected by 2026-03-04." in text
    assert "Tracking number: TRK-1, track it here: https://t.example/TRK-1" in text
    assert text.endswith("Best regards,\nSklep A")
    # past its promised date it is late, and the passed date is not promised again
    late = render(SHIPPED, "en", today=date(2026, 3, 6))
    assert "It is running late." in late
    assert "2026-03-04" not in late
    delayed = replace(
        SHIPPED,
        status=OrderStatus.DELAYED,
        delay_reason="storm",
        delayed_at=datetime(2026, 3, 1, 23, 30, tzinfo=UTC),
    )
    told = render(replace(delayed, promised_delivery_date=date(2026, 3, 7)), "pl", notice=delayed.delayed_at)
    assert "Zamówienie jest opóźnione: storm." in told
    assert "Informowaliśmy o tym opóźnieniu 2026-03-02." in told  # the shop's date, not UTC's
    assert "Nowy przewidywany termin dostawy: 2026-03-07." in told
    assert "Numer przesyłki: TRK-1, śledzenie: https://t.example/TRK-1" in told
    delivered = render(replace(SHIPPED, status=OrderStatus.DELIVERED, status_at=T0), "en")
    assert "Our records show it was delivered on 2026-03-02." in delivered
    assert "preparing it for shipping" in render(
        replace(SHIPPED, status=OrderStatus.PAID, shipment=None), "en"
    )


@given(
    status=st.sampled_from(sorted(automatic.ANSWERABLE)),
    lang=st.sampled_from(["pl", "en"]),
    shipment=st.none() | st.just(SHIPPED.shipment),
    promised=st.none() | st.dates(date(2026, 2, 1), date(2026, 4, 1)),
    reason=st.none() | st.sampled_from(["storm", "strike at the depot", ""]),
)
def test_every_answerable_state_renders_in_every_language(
    status: OrderStatus, lang: str, shipment: Shipment | None, promised: date | None, reason: str | None
) -> None:
    order = replace(
        SHIPPED, status=status, shipment=shipment, promised_delivery_date=promised, delay_reason=reason
    )
    text = render(order, lang)
    assert "o-1" in text
    assert text.endswith("Sklep A")
    assert "{{" not in text
    assert "{%" not in text


def test_a_shop_template_replaces_the_default_and_falls_back_when_it_fails() -> None:
    context = answers.answer_context("o-1", SHIPPED, date(2026, 3, 2), None, None, "Sklep A", WARSAW)
    own = answers.written(
        "en", context, answers.DEFAULT_ANSWERS, {"en": "{{ order_id }}: {{ tracking_url }}"}
    )
    assert (own.text, own.template) == ("o-1: https://t.example/TRK-1", "shop")
    broken = answers.written("en", context, answers.DEFAULT_ANSWERS, {"en": "{{ no_such_thing.x }}"})
    assert broken.template.startswith("default (shop template failed:")
    assert broken.text.startswith("Hello,\nthis is an automatic answer")
    sandboxed = answers.written("en", context, answers.DEFAULT_ANSWERS, {"en": "{{ ''.__class__.__mro__ }}"})
    assert sandboxed.template.startswith("default (shop template failed:")


def test_settings_refuse_what_cannot_work() -> None:
    with pytest.raises(ValidationError, match="template syntax error"):
        AutomaticAnswers(templates={"en": "{% if %}"})
    with pytest.raises(ValidationError, match="templates are for"):
        AutomaticAnswers(templates={"de": "Hallo"})
    with pytest.raises(ValidationError, match="shorter than"):
        Housekeeping(remind_pending_after_days=7, solve_pending_after_days=7)
    assert Housekeeping(remind_pending_after_days=None).solve_pending_after_days == 7


def test_the_answered_ticket_waits_pending_then_a_reply_raises_it_to_an_agent() -> None:
    settings = AutomaticAnswers(enabled=True, deflect_after_hours=6)
    waiting = automatic.await_customer(new_ticket(), settings, T0)
    assert waiting.changes["status"] is TicketStatus.PENDING
    assert waiting.ticket.deflect_at == T0 + timedelta(hours=6)
    assert waiting.ticket.pending_since == T0

    back = waiting.ticket.customer_wrote(
        Message(id="m-3", author=Author.CUSTOMER, body="Still nothing", at=T0)
    )
    assert (back.ticket.status, back.ticket.priority, back.ticket.deflect_at) == (
        TicketStatus.OPEN,
        Priority.HIGH,
        None,
    )
    assert back.changes["priority"] is Priority.HIGH
    assert all(e.priority is Priority.HIGH for e in back.events)  # the status change says so too

    # an agent taking it over ends the wait as well; a customer writing later raises nothing
    taken = waiting.ticket.set_status(TicketStatus.OPEN, T0).ticket
    assert taken.deflect_at is None
    later = taken.customer_wrote(Message(id="m-4", author=Author.CUSTOMER, body="Thanks", at=T0))
    assert later.ticket.priority is Priority.NORMAL


def summary(
    ticket_id: str, status: TicketStatus, threads: frozenset[str], merged: bool = False
) -> TicketSummary:
    return TicketSummary(ticket_id, status, "email:anna@example.com", None, threads, T0, T0, merged)


def test_a_message_on_a_closed_tickets_thread_continues_it() -> None:
    incoming = IncomingMessage("email:anna@example.com", None, "chat:s-1")
    closed = summary("t-1", TicketStatus.CLOSED, frozenset({"chat:s-1"}))
    assert continued_ticket(incoming, [closed]) == closed
    assert continued_ticket(incoming, [summary("t-2", TicketStatus.OPEN, frozenset({"chat:s-1"}))]) is None
    assert continued_ticket(incoming, [summary("t-3", TicketStatus.CLOSED, frozenset({"chat:s-2"}))]) is None
    merged = summary("t-4", TicketStatus.CLOSED, frozenset({"chat:s-1"}), merged=True)
    assert continued_ticket(incoming, [merged]) is None
    assert continued_ticket(replace(incoming, thread_key=None), [closed]) is None
