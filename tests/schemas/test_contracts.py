"""The event contracts: envelope rules, version tolerance, decoding of hostile bytes, generated docs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import EmailStr, TypeAdapter, ValidationError

from schemas import generate
from schemas.registry import (
    EVENT_TYPES,
    MAX_EVENT_BYTES,
    TOPIC_EVENT_TYPES,
    UNEXPLAINED,
    InvalidEvent,
    decode_event,
    encode_event,
    known_type_of,
    make_event,
)
from schemas.topics import ALL_TOPICS
from schemas.v1.common import Customer, normalize_email
from schemas.v1.contacts import Channel
from schemas.v1.orders import OrderShipped
from schemas.v1.tickets import Category, Priority, TicketReopened


def shipped(**extra: Any) -> OrderShipped:
    return OrderShipped(
        shop_id="shop-1",
        order_id="o-1",
        customer=Customer(id="c-1", email="jan@example.pl", locale="pl-PL"),
        carrier="InPost",
        tracking_number="6200",
        promised_delivery_date="2026-12-01",
        **extra,
    )


def test_an_event_round_trips_through_bytes() -> None:
    event = make_event("order.shipped", "shop-platform/demo", shipped(), subject="o-1")
    decoded = decode_event(encode_event(event))
    assert decoded.id == event.id
    assert decoded.type == "order.shipped"
    assert decoded.specversion == "1.0"
    assert decoded.data == event.data
    assert decoded.dataschema == "urn:careloop:schema:v1:order.shipped"


def test_unknown_extra_fields_are_kept_in_data_and_envelope() -> None:
    event = make_event("order.shipped", "shop", shipped(gift_wrap=True))
    document = json.loads(encode_event(event))
    document["traceparent"] = "00-abc-def-01"  # a CloudEvents extension attribute
    decoded = decode_event(json.dumps(document).encode())
    assert decoded.data.model_extra == {"gift_wrap": True}
    assert decoded.model_extra == {"traceparent": "00-abc-def-01"}
    assert json.loads(encode_event(decoded))["data"]["gift_wrap"] is True


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_a_missing_required_field_is_rejected_with_its_name(event_type: str) -> None:
    model = EVENT_TYPES[event_type]
    required = [n for n, f in model.model_fields.items() if f.is_required()]
    assert required, f"{event_type} has no required field"
    document = {"id": "e-1", "source": "test", "type": event_type, "specversion": "1.0", "data": {}}
    with pytest.raises(InvalidEvent) as error:
        decode_event(json.dumps(document).encode())
    assert error.value.reason.startswith(f"invalid {event_type} data: ")
    assert required[0] in error.value.reason


def test_an_envelope_without_its_required_attributes_is_rejected() -> None:
    with pytest.raises(InvalidEvent, match=r"not a CloudEvents 1\.0 envelope: source: Field required"):
        decode_event(b'{"id": "1", "type": "order.created", "specversion": "1.0", "data": {}}')
    with pytest.raises(InvalidEvent, match="specversion"):
        decode_event(b'{"id": "1", "source": "s", "type": "order.created", "specversion": "0.3", "data": {}}')


@settings(max_examples=300)
@given(st.binary(max_size=2048) | st.text(max_size=512).map(str.encode))
def test_decoding_arbitrary_bytes_either_succeeds_or_says_why(raw: bytes) -> None:
    try:
        decode_event(raw)
    except InvalidEvent as error:
        assert error.reason  # noqa: PT017 - any outcome but a reasonless error is fine


@settings(max_examples=200)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
        ),
        max_leaves=20,
    ),
    st.sampled_from(sorted(EVENT_TYPES)),
)
def test_decoding_arbitrary_json_data_either_succeeds_or_says_why(data: Any, event_type: str) -> None:
    document = {"id": "x", "source": "s", "type": event_type, "specversion": "1.0", "data": data}
    try:
        decode_event(json.dumps(document).encode())
    except InvalidEvent as error:
        assert error.reason  # noqa: PT017 - any outcome but a reasonless error is fine
        assert not error.reason.startswith(UNEXPLAINED)  # noqa: PT017 - the second pass found the cause


def reordered(raw: bytes, order: list[str]) -> bytes:
    """The same event with its top-level keys in another order (another producer's serialiser)."""
    document = json.loads(raw)
    return json.dumps({key: document[key] for key in order if key in document}).encode()


VALID_SHIPPED = encode_event(make_event("order.shipped", "shop", shipped(), subject="o-1"))


@settings(max_examples=300)
@given(
    st.permutations(sorted(json.loads(VALID_SHIPPED))).map(lambda keys: reordered(VALID_SHIPPED, keys))
    | st.binary(max_size=512)
    | st.dictionaries(
        st.sampled_from(["type", "id", "data", "x"]),
        st.sampled_from([*EVENT_TYPES, "order.teleported"]) | st.integers() | st.none(),
        max_size=4,
    ).map(lambda d: json.dumps(d).encode())
)
def test_whatever_decodes_is_named_by_its_type_first(raw: bytes) -> None:
    """A consumer passes over what known_type_of names and it has no handler for: that is only sound
    if every event decode_event accepts is named by known_type_of with the same type."""
    try:
        event = decode_event(raw)
    except InvalidEvent:
        return
    assert known_type_of(raw) == event.type


def test_known_type_of_names_only_known_types_of_a_json_object() -> None:
    assert known_type_of(b'{"type": "order.paid", "data": 1}') == "order.paid"
    assert known_type_of(b'{"type": "order.teleported"}') is None
    assert known_type_of(b'{"type": 3}') is None
    assert known_type_of(b'["order.paid"]') is None
    assert known_type_of(b'{"type": "order.paid"') is None
    assert known_type_of(b'{"type": "order.paid", "pad": "' + b"x" * MAX_EVENT_BYTES + b'"}') is None
    for event_type in EVENT_TYPES:
        assert known_type_of(json.dumps({"id": "1", "type": event_type}).encode()) == event_type


def test_a_nul_escaped_anywhere_in_the_data_is_refused() -> None:
    document = json.loads(encode_event(make_event("order.shipped", "shop", shipped(note="x"))))
    document["data"]["customer"]["name"] = "Jan\x00"
    with pytest.raises(InvalidEvent, match="NUL"):
        decode_event(json.dumps(document).encode())
    document["data"]["customer"]["name"] = "Jan"
    document["data"]["note"] = ["a", {"deep": "\x00"}]
    with pytest.raises(InvalidEvent, match="NUL"):
        decode_event(json.dumps(document).encode())


EMAIL_STR: TypeAdapter[str] = TypeAdapter(EmailStr)


def email_str(value: str) -> str | None:
    try:
        return EMAIL_STR.validate_python(value)
    except ValidationError:
        return None


def ours(value: str) -> str | None:
    try:
        return normalize_email(value)
    except ValueError:
        return None


@settings(max_examples=500)
@given(
    st.emails()
    | st.text(max_size=80)
    | st.from_regex(r"[A-Za-z0-9.+_-]{0,70}@[A-Za-z0-9.-]{0,80}\.[A-Za-z]{1,8}", fullmatch=True)
    | st.sampled_from(["a@b.localhost", "x@host.test", "x@Example.COM", "A.b@EXAMPLE.pl", "a..b@x.pl"])
)
def test_email_validation_agrees_with_pydantic_email_str(value: str) -> None:
    assert ours(value) == email_str(value)


def test_every_event_type_travels_on_exactly_one_topic() -> None:
    placed = [t for types in TOPIC_EVENT_TYPES.values() for t in types]
    assert sorted(placed) == sorted(EVENT_TYPES)
    assert set(TOPIC_EVENT_TYPES) == {t.name for t in ALL_TOPICS}


def test_every_topic_has_explicit_partitions_and_consumed_topics_have_a_dlq_name() -> None:
    for topic in ALL_TOPICS:
        assert topic.partitions >= 1
        assert topic.retention_ms > 0
        assert topic.dlq == f"{topic.name}.dlq"


def test_generated_artefacts_are_current() -> None:
    # topic map, AsyncAPI (generated by FastStream) and JSON Schemas: `make generate` refreshes them
    assert generate.main(["--check"]) == 0


def test_an_event_is_stamped_with_the_domain_time_it_is_given() -> None:
    data = TicketReopened(
        shop_id="s",
        ticket_id="t",
        channel=Channel.EMAIL,
        category=Category.ORDER_STATUS,
        priority=Priority.NORMAL,
        at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
    )
    stamped = make_event("ticket.reopened", "test", data, subject="t", time=data.at)
    assert stamped.time == data.at
    assert decode_event(encode_event(stamped)).time == data.at
    unstamped = make_event("ticket.reopened", "test", data, subject="t")
    assert abs((unstamped.time - datetime.now(UTC)).total_seconds()) < 60
