"""The order state of the platform adapters: any fixture becomes valid CareLoop events, and replaying a
delivery or receiving one order's deliveries in another order never changes where the order ends."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.registry import decode_event, encode_event, make_event
from services.intake.domain.platforms import shopify, woocommerce
from services.intake.domain.platforms.deliveries import (
    Applied,
    Incoming,
    OrderState,
    Outcome,
    Platform,
    apply_delivery,
)
from tests.platforms.payloads import ALL, TERMS, Fixture, fixture, fixtures

SHOP = "shop-a"
START = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
INSTANTS = st.integers(min_value=0, max_value=6).map(lambda h: START + timedelta(hours=h))
"""Few instants, so deliveries often share one (the tie-breaks must be as stable as the order)."""


def incoming(
    f: Fixture, key: str, at: datetime | None = None, body: dict[str, Any] | None = None
) -> Incoming:
    mapper = shopify.map_delivery if f.platform is Platform.SHOPIFY else woocommerce.map_delivery
    mapped = mapper(f.delivery(key, at, body), TERMS)
    assert mapped is not None
    if at is not None and f.platform is Platform.WOOCOMMERCE:
        mapped = replace(mapped, at=at)  # WooCommerce's time is the payload's date_modified
    return Incoming(key, mapped)


def fold(deliveries: list[Incoming], platform: Platform) -> tuple[OrderState, list[Applied]]:
    state = OrderState()
    results = []
    for delivery in deliveries:
        result = apply_delivery(state, delivery, SHOP, platform)
        state = result.state
        results.append(result)
    return state, results


def where_it_ends(state: OrderState) -> tuple[Any, ...]:
    return (
        state.facts,
        state.facts_at,
        state.position,
        state.status,
        state.told,
        sorted(w.key for w in state.waiting),
    )


def known(platform: Platform) -> OrderState:
    name = "orders_create" if platform is Platform.SHOPIFY else "order.created.pending"
    first = incoming(fixture(platform, name), "first", START - timedelta(days=1))
    return apply_delivery(OrderState(), first, SHOP, platform).state


@settings(max_examples=200, deadline=None)
@given(f=st.sampled_from(ALL), at=INSTANTS)
def test_any_fixture_of_a_known_order_becomes_valid_careloop_events(f: Fixture, at: datetime) -> None:
    result = apply_delivery(known(f.platform), incoming(f, "d1", at), SHOP, f.platform)
    assert result.outcome in (Outcome.APPLIED, Outcome.UNCHANGED)
    assert result.events or result.outcome is Outcome.UNCHANGED
    for emitted in result.events:
        event = make_event(
            emitted.event_type, "test", emitted.data, subject=emitted.data.order_id, time=emitted.at
        )
        decoded = decode_event(encode_event(event))
        assert decoded.type == emitted.event_type
        assert decoded.data == emitted.data
        assert decoded.data.shop_id == SHOP


def one_orders_deliveries(platform: Platform) -> st.SearchStrategy[list[Incoming]]:
    picks = st.lists(st.tuples(st.sampled_from(fixtures(platform)), INSTANTS), min_size=1, max_size=8)
    return picks.map(lambda chosen: [incoming(f, f"d{n}", at) for n, (f, at) in enumerate(chosen)])


@settings(max_examples=300, deadline=None)
@given(platform=st.sampled_from(list(Platform)), data=st.data())
def test_reordering_one_orders_deliveries_ends_in_the_same_state(
    platform: Platform, data: st.DataObject
) -> None:
    deliveries = data.draw(one_orders_deliveries(platform))
    shuffled = data.draw(st.permutations(deliveries))
    assert where_it_ends(fold(deliveries, platform)[0]) == where_it_ends(fold(shuffled, platform)[0])


@settings(max_examples=300, deadline=None)
@given(platform=st.sampled_from(list(Platform)), data=st.data())
def test_replaying_a_delivery_changes_nothing(platform: Platform, data: st.DataObject) -> None:
    deliveries = data.draw(one_orders_deliveries(platform))
    again = data.draw(st.sampled_from(deliveries))
    state, _ = fold(deliveries, platform)
    replayed = apply_delivery(state, again, SHOP, platform)
    assert where_it_ends(replayed.state) == where_it_ends(state)
    assert replayed.events == ()


@settings(max_examples=200, deadline=None)
@given(platform=st.sampled_from(list(Platform)), data=st.data())
def test_each_step_is_announced_at_most_once(platform: Platform, data: st.DataObject) -> None:
    deliveries = data.draw(one_orders_deliveries(platform))
    _, results = fold(deliveries, platform)
    events = [e for r in results for e in r.events]
    assert len({e.event_id for e in events}) == len(events)
    told = [(e.event_type, e.data.model_dump_json()) for e in events]
    assert len(set(told)) == len(told)


def test_an_older_delivery_never_moves_the_order_backwards() -> None:
    delivered = incoming(
        fixture(Platform.SHOPIFY, "fulfillments_update.delivered"), "late", START + timedelta(hours=5)
    )
    in_transit = incoming(
        fixture(Platform.SHOPIFY, "fulfillments_update.out_for_delivery"), "early", START + timedelta(hours=4)
    )
    state = known(Platform.SHOPIFY)
    first = apply_delivery(state, delivered, SHOP, Platform.SHOPIFY)
    second = apply_delivery(first.state, in_transit, SHOP, Platform.SHOPIFY)
    assert [e.event_type for e in first.events] == ["order.delivered"]
    assert (second.outcome, second.events, second.state.status) == (Outcome.STALE, (), "order.delivered")


def test_a_woocommerce_update_that_changes_nothing_careloop_models_gives_no_event() -> None:
    f = fixture(Platform.WOOCOMMERCE, "order.updated.processing")
    paid = apply_delivery(known(Platform.WOOCOMMERCE), incoming(f, "a", START), SHOP, Platform.WOOCOMMERCE)
    assert [e.event_type for e in paid.events] == ["order.paid"]
    edited = {**f.body, "billing": {**f.body["billing"], "address_1": "ul. Krótka 1"}}
    again = apply_delivery(
        paid.state, incoming(f, "b", START + timedelta(hours=1), edited), SHOP, Platform.WOOCOMMERCE
    )
    assert (again.outcome, again.events) == (Outcome.UNCHANGED, ())
    # on-hold after processing: nothing new for CareLoop either (the order was created and paid)
    hold = incoming(fixture(Platform.WOOCOMMERCE, "order.updated.on-hold"), "c", START + timedelta(hours=2))
    assert apply_delivery(again.state, hold, SHOP, Platform.WOOCOMMERCE).events == ()


def test_a_delivery_of_an_unknown_order_waits_and_is_applied_once_the_order_is_known() -> None:
    refund = incoming(fixture(Platform.SHOPIFY, "refunds_create"), "refund", START + timedelta(hours=3))
    shipped = incoming(
        fixture(Platform.SHOPIFY, "fulfillments_create"), "shipped", START + timedelta(hours=2)
    )
    created = incoming(fixture(Platform.SHOPIFY, "orders_create"), "created", START)
    state, results = fold([refund, shipped, created], Platform.SHOPIFY)
    assert [r.outcome for r in results] == [Outcome.WAITING, Outcome.WAITING, Outcome.APPLIED]
    assert [e.event_type for e in results[-1].events] == ["order.created", "order.shipped", "refund.issued"]
    assert results[-1].released == (("shipped", Outcome.APPLIED), ("refund", Outcome.APPLIED))
    assert state.waiting == ()
    assert state.status == "refund.issued"
    assert {e.data.order_id for e in results[-1].events} == {"#1042"}


def test_a_waiting_delivery_that_is_no_valid_event_is_rejected_alone() -> None:
    f = fixture(Platform.SHOPIFY, "refunds_create")
    bad = {**f.body, "transactions": [{**f.body["transactions"][0], "currency": "PLNX"}]}
    waiting = apply_delivery(
        OrderState(), incoming(f, "bad", START + timedelta(hours=1), bad), SHOP, Platform.SHOPIFY
    )
    created = incoming(fixture(Platform.SHOPIFY, "orders_create"), "created", START)
    result = apply_delivery(waiting.state, created, SHOP, Platform.SHOPIFY)
    assert [e.event_type for e in result.events] == ["order.created"]
    assert [key for key, _ in result.rejected] == ["bad"]
    assert "currency" in result.rejected[0][1]
    assert result.state.waiting == ()
