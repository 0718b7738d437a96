"""Every event type CareLoop knows, and decoding of raw bytes into a validated event."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from schemas import topics
from schemas.envelope import CloudEvent, RawCloudEvent
from schemas.v1.common import EventData
from schemas.v1.contacts import CONTACT_EVENT_TYPES
from schemas.v1.orders import ORDER_EVENT_TYPES
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
}
"""Which event types travel on which topic (order.promise_breached is an SLA event on sla.events)."""

EVENT_TYPES: dict[str, type[EventData]] = {
    **ORDER_EVENT_TYPES,
    **CONTACT_EVENT_TYPES,
    **TICKET_EVENT_TYPES,
    **SLA_EVENT_TYPES,
    **SURVEY_EVENT_TYPES,
    **NOTIFY_EVENT_TYPES,
}

MAX_EVENT_BYTES = 256 * 1024


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


def decode_event(raw: bytes, accepted_types: frozenset[str] | None = None) -> CloudEvent[Any]:
    """Decode and validate; raise InvalidEvent with a precise, storable reason."""
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"event too large: {len(raw)} bytes > {MAX_EVENT_BYTES}")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent(f"not JSON: {exc}") from None
    try:
        envelope = RawCloudEvent.model_validate(document)
    except ValidationError as exc:
        raise InvalidEvent(f"not a CloudEvents 1.0 envelope: {_describe(exc)}") from None
    model = EVENT_TYPES.get(envelope.type)
    if model is None or (accepted_types is not None and envelope.type not in accepted_types):
        raise InvalidEvent(f"unknown event type {envelope.type!r}")
    try:
        data = model.model_validate(envelope.data)
    except ValidationError as exc:
        raise InvalidEvent(f"invalid {envelope.type} data: {_describe(exc)}") from None
    fields = envelope.model_dump(exclude={"data"})
    return envelope_for(model)(**fields, data=data)


def envelope_for(model: type[BaseModel]) -> type[CloudEvent[Any]]:
    """The envelope class typed by `model`, so serialisation keeps every field of the subclass."""
    return CloudEvent[model]  # type: ignore[valid-type]


def encode_event(event: CloudEvent[Any]) -> bytes:
    return event.model_dump_json(exclude_none=True).encode()


def make_event(event_type: str, source: str, data: BaseModel, subject: str | None = None) -> CloudEvent[Any]:
    if event_type not in EVENT_TYPES:
        raise KeyError(f"unknown event type {event_type!r}")
    return envelope_for(type(data))(
        type=event_type, source=source, subject=subject, data=data, dataschema=dataschema_of(event_type)
    )
