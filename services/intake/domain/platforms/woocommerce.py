"""WooCommerce's order webhooks (REST API v3 payloads) as CareLoop order steps (docs/platforms.md has
the table).

WooCommerce sends the whole order on every `order.created` and `order.updated`, whatever changed
(an address, a note, the status). The steps here describe the order as it stands: it was created,
its status, and each refund in it. The order's state (deliveries.py) announces only the steps it was
not told yet, so an update that changes nothing CareLoop models makes no event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .deliveries import Delivery, Mapped, OrderFacts, ShopTerms, Step
from .reading import Unmappable, customer, full_name, ident, items, money, obj, optional_instant, text

TOPICS = frozenset({"order.created", "order.updated"})
"""The topics a shop subscribes CareLoop to; any other is answered and ignored."""
STATUS_STEP = {
    "pending": "order.created",
    "on-hold": "order.created",
    "processing": "order.paid",
    "completed": "order.shipped",
    "cancelled": "order.cancelled",
    "failed": "order.cancelled",
    "refunded": "refund.issued",
}
"""WooCommerce's order statuses CareLoop models; any other (checkout-draft, trash, a plugin's own) is
not an order CareLoop follows yet."""
TRACKING_META = "_wc_shipment_tracking_items"
"""Where the WooCommerce Shipment Tracking extension keeps an order's parcels."""
FAILED_REASON = {"en": "the payment failed", "pl": "płatność nie powiodła się"}
MAX_LINES = 500


def map_delivery(delivery: Delivery, terms: ShopTerms) -> Mapped | None:
    """The delivery's order and steps; None for a topic CareLoop does not map. Raises Unmappable."""
    if delivery.topic not in TOPICS:
        return None
    order = delivery.body
    zone = ZoneInfo(terms.timezone)
    at = (
        optional_instant(order, "date_modified_gmt", "order")
        or optional_instant(order, "date_modified", "order", zone)
        or delivery.received_at
    )
    status = order.get("status")
    steps: list[Step] = []
    if status in STATUS_STEP:
        steps = [_created(order), *_status_steps(order, str(status), at, terms)]
        steps += _refunds(order)
    return Mapped(ident(order, "id", "order"), at, _facts(order, terms), tuple(dict.fromkeys(steps)))


def _facts(order: Mapping[str, Any], terms: ShopTerms) -> OrderFacts:
    billing = obj(order.get("billing") or {}, "order.billing")
    email = text(billing, "email", 320)
    phone = text(billing, "phone", 32)
    account = order.get("customer_id")
    # customer_id 0 is a guest checkout: the e-mail (or phone) is what identifies the buyer.
    has_account = isinstance(account, int) and not isinstance(account, bool) and account > 0
    buyer_id = str(account) if has_account else email or phone or f"guest-{ident(order, 'id', 'order')}"
    return OrderFacts(
        order_id=text(order, "number", 128) or ident(order, "id", "order"),
        customer=customer(
            buyer_id,
            email,
            phone,
            full_name(text(billing, "first_name"), text(billing, "last_name")),
            terms.locale,
        ),
    )


def _line(line: Any, n: int) -> dict[str, Any]:
    item = obj(line, f"order.line_items[{n}]")
    sku = text(item, "sku", 100)
    if sku is None:
        for key in ("variation_id", "product_id", "id"):
            if item.get(key):
                sku = ident(item, key, f"order.line_items[{n}]")
                break
    quantity = item.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise Unmappable(f"order.line_items[{n}].quantity: expected a whole number")
    return {
        "sku": sku,
        "name": text(item, "name", 300) or sku or "",
        "quantity": quantity,
        "unit_price": money(item, "price", f"order.line_items[{n}]"),
    }


def _created(order: Mapping[str, Any]) -> Step:
    lines = [_line(line, n) for n, line in enumerate(items(order.get("line_items"), "order.line_items"))]
    fields = {
        "total": money(order, "total", "order"),
        "currency": text(order, "currency", 64),
        "lines": [line for line in lines if line["quantity"] > 0][:MAX_LINES],
    }
    return Step("order.created", "", fields)


def _status_steps(order: Mapping[str, Any], status: str, at: datetime, terms: ShopTerms) -> list[Step]:
    step_type = STATUS_STEP[status]
    if step_type == "order.created":
        return []
    if step_type == "order.paid":
        method = text(order, "payment_method_title", 100) or text(order, "payment_method", 100)
        fields = {"amount": money(order, "total", "order"), "currency": text(order, "currency", 64)}
        return [Step("order.paid", "", {**fields, "payment_method": method})]
    if step_type == "order.shipped":
        return [_shipped(order, at, terms)]
    if step_type == "order.cancelled":
        language = terms.locale.split("-")[0]
        reason = FAILED_REASON.get(language, FAILED_REASON["en"]) if status == "failed" else None
        return [Step("order.cancelled", status, {"reason": reason})]
    if _refund_entries(order):
        return []  # each refund of the order is its own step (_refunds)
    refund = {"amount": money(order, "total", "order"), "currency": text(order, "currency", 64)}
    return [Step("refund.issued", "order", refund)]


def _shipped(order: Mapping[str, Any], at: datetime, terms: ShopTerms) -> Step:
    parcels = [
        obj(entry, f"order.meta_data[{TRACKING_META}]")
        for meta in items(order.get("meta_data"), "order.meta_data")
        if isinstance(meta, Mapping) and meta.get("key") == TRACKING_META
        for entry in items(meta.get("value"), f"order.meta_data[{TRACKING_META}].value")
    ]
    tracked = [p for p in parcels if text(p, "tracking_number", 100)]
    if not tracked:
        raise Unmappable(
            "completed without a tracking number: order.shipped needs one "
            f"(the Shipment Tracking extension's {TRACKING_META})"
        )
    parcel = tracked[-1]
    tracking = text(parcel, "tracking_number", 100) or ""
    link = text(parcel, "custom_tracking_link", 2000) or text(parcel, "tracking_link", 2000)
    fields = {
        "carrier": text(parcel, "custom_tracking_provider", 100)
        or text(parcel, "tracking_provider", 100)
        or "other",
        "tracking_number": tracking,
        "tracking_url": link if link and link.startswith(("https://", "http://")) else None,
        "promised_delivery_date": _promised(parcel, at, terms),
    }
    return Step("order.shipped", tracking, fields)


def _promised(parcel: Mapping[str, Any], at: datetime, terms: ShopTerms) -> date:
    zone = ZoneInfo(terms.timezone)
    shipped = parcel.get("date_shipped")
    day = at.astimezone(zone).date()
    if isinstance(shipped, int | str) and str(shipped).strip().isdigit():
        day = datetime.fromtimestamp(int(str(shipped).strip()), UTC).astimezone(zone).date()
    return day + timedelta(days=terms.delivery_days)


def _refund_entries(order: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [obj(r, f"order.refunds[{n}]") for n, r in enumerate(items(order.get("refunds"), "order.refunds"))]


def _refunds(order: Mapping[str, Any]) -> list[Step]:
    """One step per refund in the order: WooCommerce lists them as negative totals."""
    steps = []
    for n, refund in enumerate(_refund_entries(order)):
        fields = {
            "amount": abs(money(refund, "total", f"order.refunds[{n}]")),
            "currency": text(order, "currency", 64),
        }
        steps.append(Step("refund.issued", ident(refund, "id", f"order.refunds[{n}]"), fields))
    return steps
