"""Events the notify service publishes about the shops' webhook endpoints on `notify.events`."""

from __future__ import annotations

from datetime import datetime

from schemas.v1.common import EventData


class EndpointDisabled(EventData):
    shop_id: str
    endpoint_id: str
    url: str
    reason: str
    at: datetime


class DeliveryDeadLettered(EventData):
    shop_id: str
    endpoint_id: str
    delivery_id: str
    webhook_id: str
    event_type: str
    attempts: int
    last_error: str
    at: datetime


NOTIFY_EVENT_TYPES: dict[str, type[EventData]] = {
    "webhook.endpoint_disabled": EndpointDisabled,
    "webhook.delivery_dead_lettered": DeliveryDeadLettered,
}
