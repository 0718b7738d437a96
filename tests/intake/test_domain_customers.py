"""What a customer is worth: CLV = average order value * purchase frequency * lifetime, per currency,
over hand-made order histories, and its properties over any history (hypothesis); the shop's customer
rule raising a valued or unhappy customer's ticket."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import reduce

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.v1.contacts import Channel
from schemas.v1.tickets import Category, Priority
from services.intake.domain.customers import (
    EXPECTED_LIFETIME,
    CustomerStanding,
    PastOrder,
    SurveyAnswer,
    customer_value,
    histories,
    is_detractor,
)
from services.intake.domain.orders import OrderStatus, OrderStep, apply_step
from services.intake.domain.rules import DEFAULT_RULES, CustomerRule, RuleTable, prioritise

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def order(
    n: int,
    days: float,
    total: str | None,
    currency: str | None = "EUR",
    status: OrderStatus = OrderStatus.DELIVERED,
) -> PastOrder:
    return PastOrder(f"o-{n}", T0 + timedelta(days=days), status, Decimal(total) if total else None, currency)


def test_one_order_is_expected_to_come_back_once_a_year_for_three_years() -> None:
    value = customer_value([order(1, 0, "100.00")])
    eur = value.by_currency["EUR"]
    # AOV 100, 1 order over a year's basis, lifetime 3 years: 100 * 1 * 3
    assert (eur.orders, eur.average_order_value, eur.purchase_frequency_per_year) == (
        1,
        Decimal("100.00"),
        Decimal("1.0000"),
    )
    assert (value.order_count, value.observed_span, value.lifetime_years) == (
        1,
        timedelta(0),
        Decimal("3.0000"),
    )
    assert value.clv() == {"EUR": Decimal("300.00")}


def test_three_orders_over_two_years() -> None:
    value = customer_value([order(1, 0, "50.00"), order(2, 365, "100.00"), order(3, 730, "150.00")])
    eur = value.by_currency["EUR"]
    # AOV 100, 3 orders over 2 years = 1.5 a year, lifetime still the expected 3 years: 100 * 1.5 * 3
    assert (eur.average_order_value, eur.purchase_frequency_per_year) == (
        Decimal("100.00"),
        Decimal("1.5000"),
    )
    assert (value.observed_span, value.lifetime_years) == (730 * DAY, Decimal("3.0000"))
    assert value.clv() == {"EUR": Decimal("450.00")}


def test_a_customer_seen_longer_than_the_expected_lifetime_is_worth_what_they_spent() -> None:
    value = customer_value([order(n, n * 365, "80.00") for n in range(5)])  # 5 orders over 4 years
    eur = value.by_currency["EUR"]
    # AOV 80, 5 orders over 4 years = 1.25 a year, lifetime the observed 4 years: 80 * 1.25 * 4
    assert (eur.average_order_value, eur.purchase_frequency_per_year) == (Decimal("80.00"), Decimal("1.2500"))
    assert value.lifetime_years == Decimal("4.0000")
    assert value.clv() == {"EUR": Decimal("400.00")}


def test_currencies_are_never_mixed_and_cancelled_or_refunded_orders_never_count() -> None:
    value = customer_value(
        [
            order(1, 0, "100.00", "EUR"),
            order(2, 100, "400.00", "PLN"),
            order(3, 200, "300.00", "PLN"),
            order(4, 250, "999.00", "PLN", status=OrderStatus.CANCELLED),
            order(5, 300, "999.00", "EUR", status=OrderStatus.REFUNDED),
            order(6, 500, None, None),  # contents never told: listed, not counted
        ]
    )
    assert value.order_count == 3
    assert (value.first_order_at, value.last_order_at) == (T0, T0 + 200 * DAY)
    assert value.by_currency["PLN"].average_order_value == Decimal("350.00")
    # one year's basis (the span is 200 days), lifetime 3 years: each currency's sum * 3
    assert value.clv() == {"EUR": Decimal("300.00"), "PLN": Decimal("2100.00")}


def test_a_customer_without_a_counted_order_has_no_value() -> None:
    value = customer_value([order(1, 0, "10.00", status=OrderStatus.CANCELLED)])
    assert (value.order_count, value.first_order_at, value.clv()) == (0, None, {})


def test_the_standing_a_ticket_carries_gives_the_same_clv_as_the_orders() -> None:
    orders = [order(1, 0, "19.99", "EUR"), order(2, 500, "5.01", "EUR"), order(3, 40, "70.00", "USD")]
    standing = CustomerStanding(histories(orders), detractor=False)
    # span 500 days: basis 500 days, lifetime 3 years (1095 days): sum * 1095 / 500
    assert (
        standing.clv() == customer_value(orders).clv() == {"EUR": Decimal("54.75"), "USD": Decimal("153.30")}
    )


def answer(survey: str, kind: str, score: int, days: int, detractor: bool) -> SurveyAnswer:
    return SurveyAnswer(survey, kind, score, T0 + days * DAY, detractor)


def test_a_detractor_until_a_happier_answer_of_the_same_kind() -> None:
    unhappy = answer("s1", "nps", 3, 0, True)
    assert is_detractor([unhappy])
    assert is_detractor([unhappy, answer("s2", "ces", 7, 5, False)])  # another kind changes nothing
    assert not is_detractor([answer("s3", "nps", 9, 10, False), unhappy])  # arrival order does not matter
    assert is_detractor([answer("s3", "nps", 9, 10, False), unhappy, answer("s4", "csat", 1, 11, True)])
    assert not is_detractor([])


# -- any history ---------------------------------------------------------------------------------------

CURRENCIES = st.sampled_from(["EUR", "PLN", "USD"])
STATUSES = st.sampled_from(list(OrderStatus))


@st.composite
def past_orders(draw: st.DrawFn, n: int) -> PastOrder:
    known = draw(st.integers(0, 9)) > 0  # now and then an order whose contents were never told
    return PastOrder(
        f"o-{n}",
        T0 + timedelta(minutes=draw(st.integers(0, 6 * 365 * 24 * 60))),
        draw(STATUSES),
        draw(st.decimals(0, 10_000, places=2)) if known else None,
        draw(CURRENCIES),
    )


HISTORIES = st.integers(0, 12).flatmap(lambda k: st.tuples(*(past_orders(n) for n in range(k))))


@given(HISTORIES, past_orders(99))
def test_adding_an_order_never_lowers_the_order_count_or_the_lifetime(
    orders: tuple[PastOrder, ...], added: PastOrder
) -> None:
    before, after = customer_value(orders), customer_value((*orders, added))
    assert after.order_count >= before.order_count
    assert after.lifetime >= before.lifetime >= EXPECTED_LIFETIME
    assert after.observed_span >= before.observed_span
    if added.counted:
        assert after.order_count == before.order_count + 1


@given(HISTORIES)
def test_clv_is_per_currency_and_never_below_what_was_spent(orders: tuple[PastOrder, ...]) -> None:
    value = customer_value(orders)
    counted = [o for o in orders if o.counted]
    assert set(value.clv()) == {o.currency for o in counted}
    for currency, clv in value.clv().items():
        spent = sum((o.total or Decimal(0) for o in counted if o.currency == currency), Decimal(0))
        assert clv >= spent.quantize(Decimal("0.01"))
    assert value.order_count == len(counted)


@given(HISTORIES, st.randoms())
def test_the_order_orders_arrive_in_never_matters(orders: tuple[PastOrder, ...], rnd: random.Random) -> None:
    shuffled = list(orders)
    rnd.shuffle(shuffled)
    assert customer_value(shuffled) == customer_value(orders)


# -- the customer rule of the shop's table --------------------------------------------------------------


def standing(eur: str | None = None, detractor: bool = False) -> CustomerStanding:
    orders = [order(1, 0, eur)] if eur else []
    return CustomerStanding(histories(orders), detractor)


def priority_of(
    table: RuleTable, who: CustomerStanding | None, category: Category, channel: Channel
) -> Priority:
    return prioritise(table.for_customer(who), category, channel)


def test_a_detractor_s_complaint_starts_high_by_default_and_the_channel_still_raises_it() -> None:
    complaint, email = Category.COMPLAINT_REPAIR, Channel.EMAIL
    assert priority_of(DEFAULT_RULES, standing(detractor=True), complaint, email) is Priority.HIGH
    assert priority_of(DEFAULT_RULES, standing(detractor=True), complaint, Channel.PHONE) is Priority.URGENT
    assert priority_of(DEFAULT_RULES, standing(detractor=False), complaint, email) is Priority.NORMAL
    assert priority_of(DEFAULT_RULES, None, complaint, email) is Priority.NORMAL
    # another category is not the rule's
    assert (
        priority_of(DEFAULT_RULES, standing(detractor=True), Category.ORDER_STATUS, email) is Priority.NORMAL
    )


def test_a_valued_customer_by_the_shop_s_threshold_in_their_own_currency() -> None:
    rule = CustomerRule(
        categories=(Category.COMPLAINT_REPAIR, Category.RETURN), min_clv={"EUR": Decimal(1000)}
    )
    table = DEFAULT_RULES.model_copy(update={"customer_rule": rule})
    # one order of 400 EUR: CLV 1200 EUR >= 1000 EUR; of 300 EUR: 900 EUR, under it
    assert priority_of(table, standing("400.00"), Category.RETURN, Channel.EMAIL) is Priority.HIGH
    assert priority_of(table, standing("300.00"), Category.RETURN, Channel.EMAIL) is Priority.NORMAL
    # a threshold in another currency says nothing about EUR (never converted)
    pln_only = DEFAULT_RULES.model_copy(
        update={"customer_rule": CustomerRule(min_clv={"PLN": Decimal(1)}, detractors=False)}
    )
    assert priority_of(
        pln_only, standing("400.00", detractor=True), Category.COMPLAINT_REPAIR, Channel.EMAIL
    ) is (Priority.NORMAL)
    # no rule at all: nothing raised
    none = DEFAULT_RULES.model_copy(update={"customer_rule": None})
    assert priority_of(
        none, standing("9999.00", detractor=True), Category.COMPLAINT_REPAIR, Channel.EMAIL
    ) is (Priority.NORMAL)


def test_the_rule_is_data_a_shop_sends() -> None:
    table = RuleTable.model_validate(
        {
            **DEFAULT_RULES.model_dump(mode="json"),
            "customer_rule": {"min_clv": {"EUR": "500"}, "priority": "urgent"},
        }
    )
    assert table.customer_rule == CustomerRule(min_clv={"EUR": Decimal(500)}, priority=Priority.URGENT)
    for wrong in ({"min_clv": {"euro": "5"}}, {"min_clv": {"EUR": "-1"}}, {"unknown": 1}):
        with pytest.raises(ValidationError):
            RuleTable.model_validate({**DEFAULT_RULES.model_dump(mode="json"), "customer_rule": wrong})


STEPS = st.lists(
    st.tuples(st.sampled_from(list(OrderStatus)), st.integers(0, 10_000)), min_size=1, max_size=8
)


@given(STEPS, st.randoms())
def test_an_order_is_placed_at_its_earliest_step_whatever_arrives_first(
    steps: list[tuple[OrderStatus, int]], rnd: random.Random
) -> None:
    told = [OrderStep(status, T0 + timedelta(minutes=m), "c-1", None, "en") for status, m in steps]
    shuffled = list(told)
    rnd.shuffle(shuffled)
    folded = [reduce(apply_step, order_, None) for order_ in (told, shuffled)]
    assert {state.placed_at for state in folded if state is not None} == {min(step.at for step in told)}
