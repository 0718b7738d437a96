"""The webhook body per Standard Webhooks: `{"type", "timestamp", "data"}`, where `data` is the event's
own data plus its rendered message, so a shop can forward it as is: `customer_message` for the customer,
or `staff_message` for the shop's people (an SLA alert); the other one is null."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.notify.domain.alerts import STAFF_EVENT_TYPES
from services.notify.domain.templates import CustomerMessage


def customer_locale(data: Mapping[str, Any]) -> str | None:
    customer = data.get("customer")
    if isinstance(customer, Mapping) and isinstance(customer.get("locale"), str):
        return str(customer["locale"])
    locale = data.get("customer_locale")
    return locale if isinstance(locale, str) else None


def message_context(data: Mapping[str, Any], shop_name: str) -> dict[str, Any]:
    context = dict(data)
    # Ticket events carry no customer object; templates may still greet by name.
    if not isinstance(context.get("customer"), Mapping):
        context["customer"] = {"name": None, "locale": customer_locale(data)}
    context["shop_name"] = shop_name
    return context


def webhook_body(
    event_type: str,
    event_time: datetime,
    event_id: str,
    data: Mapping[str, Any],
    message: CustomerMessage | None,
) -> bytes:
    rendered = message.as_json() if message is not None else None
    staff = event_type in STAFF_EVENT_TYPES
    payload = {
        "type": event_type,
        "timestamp": event_time.isoformat().replace("+00:00", "Z"),
        "data": {
            **data,
            "event_id": event_id,
            "customer_message": None if staff else rendered,
            "staff_message": rendered if staff else None,
        },
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
