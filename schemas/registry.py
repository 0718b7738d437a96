"""Every event type CareLoop knows, and decoding of raw bytes into a validated event."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Any, Union

from pydantic import BaseModel, Discriminator, Tag, TypeAdapter, ValidationError
from pydantic_core import from_json

from schemas import topics
from schemas.envelope import CloudEvent, RawCloudEvent
from schemas.v1.audit import AUDIT_EVENT_TYPES
from schemas.v1.common import TEXT_CHECKED, EventData
from schemas.v1.contacts import CONTACT_EVENT_TYPES
from schemas.v1.orders import ORDER_EVENT_TYPES
from schemas.v1.privacy import PRIVACY_EVENT_TYPES
from schemas.v1.replies import REPLY_EVENT_TYPES, REPLY_STATUS_EVENT_TYPES
from schemas.v1.shops import SHOP_EVENT_TYPES
from schemas.v1.sla import SLA_EVENT_TYPES
from schemas.v1.surveys import SURVEY_EVENT_TYPES
from schemas.v1.tickets import TICKET_EVENT_TYPES
from schemas.v1.webhooks import NOTIFY_EVENT_TYPES

TOPIC_EVENT_TYPES: dict[str, dict[str, type[EventData]]] = {
    topics.ORDERS.name: dict(ORDER_EVENT_TYPES),
    topics.CONTACTS.name: CONTACT_EVENT_TYPES,
    topics.TICKETS.name: TICKET_EVENT_TYPES,
    topics.SLA.name: SLA_EVENT_TYPES,
    topics.SURVEYS.name: SURVEY_EVENT_TYPES,
    topics.NOTIFY.name: NOTIFY_EVENT_TYPES,
    topics.REPLIES.name: REPLY_EVENT_TYPES,
    topics.REPLY_STATUS.name: REPLY_STATUS_EVENT_TYPES,
    topics.SHOPS.name: SHOP_EVENT_TYPES,
    topics.AUDIT.name: AUDIT_EVENT_TYPES,
    topics.PRIVACY.name: PRIVACY_EVENT_TYPES,
}
"""Which event types travel on which topic (order.promise_breached is an SLA event on sla.events)."""

EVENT_TYPES: dict[str, type[EventData]] = {
    **ORDER_EVENT_TYPES,
    **CONTACT_EVENT_TYPES,
    **TICKET_EVENT_TYPES,
    **SLA_EVENT_TYPES,
    **SURVEY_EVENT_TYPES,
    **NOTIFY_EVENT_TYPES,
    **REPLY_EVENT_TYPES,
    **REPLY_STATUS_EVENT_TYPES,
    **SHOP_EVENT_TYPES,
    **AUDIT_EVENT_TYPES,
    **PRIVACY_EVENT_TYPES,
}

MAX_EVENT_BYTES = 256 * 1024
UNEXPLAINED = "invalid event"
"""Reason prefix if the detailed second pass finds nothing wrong (it should always find something)."""


class InvalidEvent(ValueError):
    """Raised for bytes that are not a valid CareLoop event; `reason` is safe to store in a DLQ."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def dataschema_of(event_type: str) -> str:
    return f"urn:careloop:schema:v1:{event_type}"


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "(root)"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def known_type_of(raw: bytes) -> str | None:
    """The known event type `raw` names at its top level, or None if it names none (not JSON, not an
    object, too large, no string "type", a type CareLoop does not know).

    A plain JSON parse without validation, about a sixth of decode_event's cost: a consumer uses it to
    pass over events it has no handler for. Only decode_event says whether an event is valid."""
    if len(raw) > MAX_EVENT_BYTES:
        return None
    try:
        document = from_json(raw, cache_strings="keys")
    except ValueError:
        return None
    event_type = document.get("type") if isinstance(document, dict) else None
    return event_type if isinstance(event_type, str) and event_type in EVENT_TYPES else None


def decode_event(raw: bytes, accepted_types: frozenset[str] | None = None) -> CloudEvent[Any]:
    """Decode and validate; raise InvalidEvent with a precise, storable reason."""
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"event too large: {len(raw)} bytes > {MAX_EVENT_BYTES}")
    # JSON can only carry a NUL as an escape: without one in the bytes, no model needs to look for it.
    context = None if b"\\u0000" in raw else {TEXT_CHECKED: True}
    try:
        event: CloudEvent[Any] = _ANY_EVENT.validate_json(raw, context=context)
    except ValidationError as exc:
        _explain(raw)  # one pass of JSON parsing and validation normally; a second only to say why not
        raise InvalidEvent(f"{UNEXPLAINED}: {_describe(exc)}") from None
    if accepted_types is not None and event.type not in accepted_types:
        raise InvalidEvent(f"unknown event type {event.type!r}")
    return event


def _explain(raw: bytes) -> None:
    """Raise InvalidEvent with the first thing wrong with `raw`, envelope first, then data."""
    try:
        envelope = RawCloudEvent.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise InvalidEvent(f"not JSON: {first['msg']}") from None
        raise InvalidEvent(f"not a CloudEvents 1.0 envelope: {_describe(exc)}") from None
    model = EVENT_TYPES.get(envelope.type)
    if model is None:
        raise InvalidEvent(f"unknown event type {envelope.type!r}")
    try:
        model.model_validate(envelope.data)
    except ValidationError as exc:
        raise InvalidEvent(f"invalid {envelope.type} data: {_describe(exc)}") from None


def _event_type(value: Any) -> Any:
    return value.get("type") if isinstance(value, dict) else getattr(value, "type", None)


@cache
def envelope_for(model: type[BaseModel]) -> type[CloudEvent[Any]]:
    """The envelope class typed by `model`, so serialisation keeps every field of the subclass."""
    return CloudEvent[model]  # type: ignore[valid-type]


_ANY_EVENT: TypeAdapter[CloudEvent[Any]] = TypeAdapter(
    Annotated[
        Union[tuple(Annotated[envelope_for(m), Tag(t)] for t, m in EVENT_TYPES.items())],  # noqa: UP007
        Discriminator(_event_type),
    ]
)
"""Every known event in one validator: the envelope's type picks the data model inside one JSON pass."""


def encode_event(event: CloudEvent[Any]) -> bytes:
    return event.model_dump_json(exclude_none=True).encode()


def make_event(
    event_type: str,
    source: str,
    data: BaseModel,
    subject: str | None = None,
    *,
    time: datetime | None = None,
) -> CloudEvent[Any]:
    """The event's envelope. `time` is when it happened in domain time (services pass their clock's
    now, so an accelerated demo or a manual-clock test reads one clock); wall-clock now without it."""
    if event_type not in EVENT_TYPES:
        raise KeyError(f"unknown event type {event_type!r}")
    envelope = envelope_for(type(data))
    schema = dataschema_of(event_type)
    if time is None:
        return envelope(type=event_type, source=source, subject=subject, data=data, dataschema=schema)
    return envelope(type=event_type, source=source, subject=subject, data=data, dataschema=schema, time=time)
