"""The order fold: what intake keeps of an order ends the same whatever order its steps arrive in."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import reduce

from hypothesis import given
from hypothesis import strategies as st

from services.intake.domain.orders import (
    Contents,
    OrderContext,
    OrderItem,
    OrderStatus,
    OrderStep,
    Shipment,
    apply_step,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def step(status: OrderStatus, minutes: int, **facts: object) -> OrderStep:
    fields: dict[str, object] = {"customer_id": "c-1", "customer_email": None, "customer_locale": "pl"}
    fields.update(facts)
    return OrderStep(status, T0 + timedelta(minutes=minutes), **fields)  # type: ignore[arg-type]


def fold(steps: list[OrderStep], start: OrderContext | None = None) -> OrderContext:
    state = reduce(apply_step, steps, start)
    assert state is not None
    return state


INPOST = Shipment("InPost", "TRK-1", "https://track.example/TRK-1")


def test_the_tracking_survives_a_later_status_whatever_arrives_first() -> None:
    shipped = step(OrderStatus.SHIPPED, 10, shipment=INPOST, promised_delivery_date=date(2026, 3, 5))
    delivered = step(OrderStatus.DELIVERED, 40, customer_email="anna@example.com")
    for steps in ([shipped, delivered], [delivered, shipped]):
        state = fold(steps)
        assert state.status is OrderStatus.DELIVERED
        assert (state.shipment, state.shipped_at) == (INPOST, T0 + timedelta(minutes=10))
        assert state.promised_delivery_date == date(2026, 3, 5)
        assert state.customer_email == "anna@example.com"


def test_the_last_delay_and_its_new_promise_are_kept() -> None:
    steps = [
        step(OrderStatus.SHIPPED, 0, shipment=INPOST, promised_delivery_date=date(2026, 3, 5)),
        step(OrderStatus.DELAYED, 20, delay_reason="storm", promised_delivery_date=date(2026, 3, 7)),
        step(OrderStatus.DELAYED, 30, delay_reason="carrier strike"),
        step(OrderStatus.OUT_FOR_DELIVERY, 50),
    ]
    state = fold(steps)
    assert state.status is OrderStatus.OUT_FOR_DELIVERY
    assert (state.delay_reason, state.delayed_at) == ("carrier strike", T0 + timedelta(minutes=30))
    assert state.promised_delivery_date == date(2026, 3, 7)  # the second delay gave no new date


def test_the_contents_come_from_the_order_created() -> None:
    contents = Contents(Decimal("99.90"), "PLN", (OrderItem("SKU-1", "Kettle", 1, Decimal("99.90")),))
    state = fold([step(OrderStatus.PAID, 5), step(OrderStatus.CREATED, 0, contents=contents)])
    assert (state.status, state.contents) == (OrderStatus.PAID, contents)


def test_a_fact_stored_with_the_status_is_as_old_as_the_status() -> None:
    """Rows written before facts had their own times: their promise dates from the status."""
    known = OrderContext(OrderStatus.SHIPPED, T0 + timedelta(minutes=50), "c-2", None, "pl", date(2026, 3, 9))
    older = step(OrderStatus.SHIPPED, 8, promised_delivery_date=date(2026, 3, 7))
    assert fold([older], known).promised_delivery_date == date(2026, 3, 9)
    newer = step(OrderStatus.DELIVERED, 60)
    after = fold([newer, older], known)
    assert (after.status, after.promised_delivery_date) == (OrderStatus.DELIVERED, date(2026, 3, 9))
    assert after.promise_at == known.status_at


shipments = st.none() | st.builds(
    Shipment,
    st.sampled_from(["InPost", "DPD"]),
    st.sampled_from(["T1", "T2"]),
    st.none() | st.sampled_from(["https://t.example/1", "https://t.example/2"]),
)
contents = st.none() | st.builds(
    Contents,
    st.sampled_from([Decimal("10.00"), Decimal("99.90")]),
    st.sampled_from(["PLN", "EUR"]),
    st.lists(
        st.builds(OrderItem, st.just("S"), st.just("Thing"), st.integers(1, 3), st.just(Decimal(5)))
    ).map(tuple),
)
steps = st.lists(
    st.builds(
        OrderStep,
        status=st.sampled_from(OrderStatus),
        at=st.integers(0, 6).map(lambda m: T0 + timedelta(minutes=m)),  # few times: many ties
        customer_id=st.sampled_from(["c-1", "c-2"]),
        customer_email=st.none() | st.sampled_from(["a@example.com", "b@example.com"]),
        customer_locale=st.sampled_from(["pl", "en"]),
        promised_delivery_date=st.none() | st.sampled_from([date(2026, 3, 5), date(2026, 3, 9)]),
        shipment=shipments,
        delay_reason=st.none() | st.sampled_from(["storm", "strike"]),
        contents=contents,
    ),
    min_size=1,
    max_size=10,
)


@given(steps=steps, seed=st.integers(0, 2**32 - 1), start=st.booleans())
def test_any_arrival_order_ends_in_the_same_state(steps: list[OrderStep], seed: int, start: bool) -> None:
    known = OrderContext(OrderStatus.PAID, T0 + timedelta(minutes=3), "c-0", "old@example.com", "en")
    begin = known if start else None
    shuffled = steps[:]
    random.Random(seed).shuffle(shuffled)
    assert fold(shuffled, begin) == fold(steps, begin)
    # folding a step in twice (a redelivery) changes nothing either
    assert fold(shuffled + shuffled[:1], begin) == fold(steps, begin)


@given(steps=steps)
def test_the_newest_step_sets_the_status_and_each_fact_its_newest_teller(steps: list[OrderStep]) -> None:
    state = fold(steps)
    newest = max(s.at for s in steps)
    assert state.status_at == newest
    assert state.status in {s.status for s in steps if s.at == newest}
    promised = [s for s in steps if s.promised_delivery_date]
    if promised:
        assert state.promise_at == max(s.at for s in promised)
    else:
        assert state.promised_delivery_date is None
    delays = [s for s in steps if s.status is OrderStatus.DELAYED]
    assert state.delayed_at == (max(s.at for s in delays) if delays else None)
    shipped = [s for s in steps if s.shipment]
    assert state.shipped_at == (max(s.at for s in shipped) if shipped else None)
