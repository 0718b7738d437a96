from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from demo.journeys import order_journey, shop_day
from schemas.registry import decode_event, encode_event

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=2**32))
def test_every_journey_starts_with_creation_and_moves_forward_in_time(seed: int) -> None:
    steps = order_journey(random.Random(seed), "demo-shop", 7, START)
    types = [s.event.type for s in steps]
    assert types[0] == "order.created"
    assert [s.due for s in steps] == sorted(s.due for s in steps)
    assert len({s.event.id for s in steps}) == len(steps)
    if "order.cancelled" in types:
        assert types == ["order.created", "order.cancelled"]
    else:
        assert types[1:3] == ["order.paid", "order.shipped"]
        assert "order.delivered" in types
    for step in steps:
        assert step.event.subject == "demo-shop-0000007"
        assert step.event.time == step.due
        assert decode_event(encode_event(step.event)).data == step.event.data


def test_a_shop_day_is_time_ordered_and_keeps_each_orders_step_order() -> None:
    events = shop_day(random.Random(3), "demo-shop", START, 200)
    assert [e.due for e in events] == sorted(e.due for e in events)
    by_order: dict[str, list[str]] = defaultdict(list)
    for e in events:
        by_order[e.order_id].append(e.event.type)
    assert len(by_order) == 200
    kinds = {t for types in by_order.values() for t in types}
    assert {"order.cancelled", "order.delayed", "return.requested", "repair.received"} <= kinds
