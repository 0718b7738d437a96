"""The event decoder facing every topic: whatever bytes arrive, it returns a validated event or
raises InvalidEvent with a storable reason — never anything else, never a half-valid event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.registry import (
    EVENT_TYPES,
    MAX_EVENT_BYTES,
    InvalidEvent,
    decode_event,
    encode_event,
    make_event,
)
from schemas.v1.common import Customer
from schemas.v1.orders import OrderCreated, OrderLine

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)


def valid_document() -> dict[str, Any]:
    data = OrderCreated(
        shop_id="shop-a",
        order_id="o-1",
        customer=Customer(id="c-1", email="anna@example.com"),
        total=Decimal("10.00"),
        currency="PLN",
        lines=[OrderLine(sku="S", name="n", quantity=1, unit_price=Decimal("10.00"))],
    )
    document: dict[str, Any] = json.loads(encode_event(make_event("order.created", "shop", data, "o-1")))
    return document


def decode_or_refuse(raw: bytes) -> None:
    try:
        event = decode_event(raw)
    except InvalidEvent as exc:
        reason = exc.reason
        assert reason
        assert len(reason) < 5000
        return
    # Anything accepted is a fully typed event of a known type, and survives a round trip.
    assert event.type in EVENT_TYPES
    assert isinstance(event.data, EVENT_TYPES[event.type])
    assert decode_event(encode_event(event)) == event


@SETTINGS
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_decode_or_are_refused(raw: bytes) -> None:
    decode_or_refuse(raw)


@SETTINGS
@given(json_values)
def test_arbitrary_json_decodes_or_is_refused(value: Any) -> None:
    decode_or_refuse(json.dumps(value).encode())


@SETTINGS
@given(
    field=st.sampled_from(["id", "source", "type", "specversion", "time", "subject", "data", "dataschema"]),
    value=json_values,
)
def test_a_valid_envelope_with_any_field_replaced_decodes_or_is_refused(field: str, value: Any) -> None:
    document = valid_document()
    document[field] = value
    decode_or_refuse(json.dumps(document).encode())


@SETTINGS
@given(
    path=st.sampled_from(
        [
            ("shop_id",),
            ("order_id",),
            ("total",),
            ("currency",),
            ("customer", "email"),
            ("customer", "id"),
            ("lines", 0, "quantity"),
            ("lines", 0, "unit_price"),
        ]
    ),
    value=json_values,
)
def test_a_valid_order_with_any_data_field_replaced_decodes_or_is_refused(
    path: tuple[Any, ...], value: Any
) -> None:
    document = valid_document()
    target = document["data"]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    decode_or_refuse(json.dumps(document).encode())


@SETTINGS
@given(st.sampled_from(sorted(EVENT_TYPES)), st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_every_known_type_with_random_data_decodes_or_is_refused(
    event_type: str, data: dict[str, Any]
) -> None:
    document = {**valid_document(), "type": event_type, "data": data}
    decode_or_refuse(json.dumps(document).encode())


def test_an_event_over_the_size_limit_is_refused_before_parsing() -> None:
    document = valid_document()
    document["data"]["padding"] = "x" * MAX_EVENT_BYTES
    raw = json.dumps(document).encode()
    with pytest.raises(InvalidEvent, match=r"^event too large"):
        decode_event(raw)


def test_the_valid_document_itself_decodes() -> None:
    event = decode_event(json.dumps(valid_document()).encode())
    assert event.data.order_id == "o-1"
    assert event.time <= datetime.now(UTC)
