"""Category and priority rules, and the order context they read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.v1.contacts import Channel
from schemas.v1.tickets import Category, Priority, TicketSource
from services.intake.domain.orders import OrderContext, OrderStatus, apply_order_step
from services.intake.domain.rules import (
    DEFAULT_RULES,
    PRIORITY_ORDER,
    CategoryRule,
    RuleTable,
    categorise,
    prioritise,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("subject", "body", "order_status", "expected"),
    [
        ("Where is my parcel?", "Ordered last week.", OrderStatus.SHIPPED, Category.ORDER_STATUS),
        ("Where is my parcel?", "Ordered last week.", OrderStatus.DELAYED, Category.DELIVERY_DELAY),
        ("", "The courier is late, delay again", OrderStatus.SHIPPED, Category.DELIVERY_DELAY),
        ("", "Gdzie jest moja paczka?", OrderStatus.DELAYED, Category.DELIVERY_DELAY),
        ("Broken", "The kettle arrived damaged", OrderStatus.DELIVERED, Category.COMPLAINT_REPAIR),
        ("", "Reklamacja: nie działa", None, Category.COMPLAINT_REPAIR),
        ("Return", "I want to send it back", OrderStatus.DELIVERED, Category.RETURN),
        ("", "I was charged twice on my card", None, Category.PAYMENT),
        ("", "Is this jacket available in size M?", None, Category.PRODUCT_QUESTION),
        ("Hello", "Do you have a shop in Kraków?", None, Category.OTHER),
    ],
)
def test_default_categories(
    subject: str, body: str, order_status: OrderStatus | None, expected: Category
) -> None:
    assert categorise(DEFAULT_RULES, subject, body, order_status) is expected


def test_a_shops_own_table_replaces_the_default() -> None:
    table = RuleTable(
        rules=(
            CategoryRule(category=Category.PAYMENT, keywords=("raty",)),
            CategoryRule(category=Category.DELIVERY_DELAY, order_statuses=(OrderStatus.DELAYED,)),
        )
    )
    assert categorise(table, "", "Pytanie o RATY", None) is Category.PAYMENT
    assert categorise(table, "", "anything at all", OrderStatus.DELAYED) is Category.DELIVERY_DELAY
    assert categorise(table, "", "my item is broken", OrderStatus.SHIPPED) is Category.OTHER


def test_a_rule_without_any_condition_is_refused() -> None:
    with pytest.raises(ValidationError, match="keywords, order_statuses or both"):
        CategoryRule(category=Category.OTHER)
    with pytest.raises(ValidationError):
        CategoryRule(category=Category.OTHER, keywords=("  ",))


def test_priority_from_category_channel_history_and_words() -> None:
    p = prioritise
    assert p(DEFAULT_RULES, Category.PRODUCT_QUESTION, Channel.EMAIL) is Priority.LOW
    assert p(DEFAULT_RULES, Category.ORDER_STATUS, Channel.EMAIL) is Priority.NORMAL
    assert p(DEFAULT_RULES, Category.ORDER_STATUS, Channel.PHONE) is Priority.HIGH
    assert p(DEFAULT_RULES, Category.ORDER_STATUS, Channel.EMAIL, is_repeat=True) is Priority.HIGH
    assert p(DEFAULT_RULES, Category.PAYMENT, Channel.SOCIAL, is_repeat=True) is Priority.URGENT
    assert (
        p(DEFAULT_RULES, Category.PRODUCT_QUESTION, Channel.EMAIL, source=TicketSource.SURVEY_DETRACTOR)
        is Priority.HIGH
    )
    assert p(DEFAULT_RULES, Category.OTHER, Channel.EMAIL, text="I will file a chargeback") is Priority.URGENT


@given(
    category=st.sampled_from(Category),
    channel=st.sampled_from(Channel),
    repeat=st.booleans(),
    source=st.sampled_from(TicketSource),
)
def test_history_and_follow_ups_never_lower_priority(
    category: Category, channel: Channel, repeat: bool, source: TicketSource
) -> None:
    plain = prioritise(DEFAULT_RULES, category, channel)
    with_history = prioritise(DEFAULT_RULES, category, channel, is_repeat=repeat, source=source)
    assert PRIORITY_ORDER.index(with_history) >= PRIORITY_ORDER.index(plain)
    if source is not TicketSource.CONTACT:
        assert PRIORITY_ORDER.index(with_history) >= PRIORITY_ORDER.index(Priority.HIGH)


@given(text=st.text(max_size=300), status=st.none() | st.sampled_from(OrderStatus))
def test_every_text_gets_exactly_one_known_category(text: str, status: OrderStatus | None) -> None:
    assert categorise(DEFAULT_RULES, "", text, status) in set(Category)


def test_the_rule_table_round_trips_through_json() -> None:
    assert RuleTable.model_validate_json(DEFAULT_RULES.model_dump_json()) == DEFAULT_RULES


def _ctx(status: OrderStatus, at: datetime, promised: date | None = None) -> OrderContext:
    return OrderContext(status, at, "c-1", "anna@example.com", "pl", promised)


def test_an_order_in_transit_past_its_promised_date_counts_as_delayed() -> None:
    shipped = _ctx(OrderStatus.SHIPPED, T0, date(2026, 3, 4))
    assert shipped.effective_status(date(2026, 3, 4)) is OrderStatus.SHIPPED
    assert shipped.effective_status(date(2026, 3, 5)) is OrderStatus.DELAYED
    delivered = _ctx(OrderStatus.DELIVERED, T0, date(2026, 3, 4))
    assert delivered.effective_status(date(2026, 3, 9)) is OrderStatus.DELIVERED


steps = st.lists(
    st.tuples(st.sampled_from(OrderStatus), st.integers(0, 10_000), st.none() | st.dates()),
    min_size=1,
    max_size=8,
)


@given(steps=steps, order=st.randoms())
def test_the_newest_order_step_wins_whatever_the_arrival_order(
    steps: list[tuple[OrderStatus, int, date | None]], order: object
) -> None:
    import random

    assert isinstance(order, random.Random)
    # distinct times, so "newest" is well defined
    unique = list({minutes: (status, minutes, promised) for status, minutes, promised in steps}.values())
    shuffled = unique[:]
    order.shuffle(shuffled)
    state: OrderContext | None = None
    for status, minutes, promised in shuffled:
        state = apply_order_step(state, status, T0 + timedelta(minutes=minutes), "c-1", None, "pl", promised)
    newest = max(unique, key=lambda s: s[1])
    assert state is not None
    assert state.status is newest[0]
    assert state.status_at == T0 + timedelta(minutes=newest[1])
