"""Shopify's webhook topics as CareLoop order steps (docs/platforms.md has the table).

The order topics carry the whole order (customer included); fulfillments, refunds and returns name
only the order's id, so their steps wait for the order to be known (deliveries.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from .deliveries import Delivery, Mapped, OrderFacts, ShopTerms, Step
from .reading import (
    Unmappable,
    customer,
    first_text,
    full_name,
    ident,
    items,
    money,
    obj,
    optional_instant,
    text,
)

Mapper = Callable[[Delivery, ShopTerms], Mapped]

MAX_LINES = 500
SHIPPED_STATUSES = frozenset({None, "label_printed", "label_purchased", "confirmed", "in_transit"})
"""Shipment statuses of a fulfillment that has left the shop (or is about to) with a tracking number."""
DELAY_REASONS: dict[str, dict[str, str]] = {
    "failure": {
        "en": "the carrier could not deliver the parcel",
        "pl": "przewoźnik nie mógł doręczyć przesyłki",
    },
    "attempted_delivery": {
        "en": "the carrier tried to deliver the parcel but nobody could receive it",
        "pl": "przewoźnik próbował doręczyć przesyłkę, ale nikt jej nie odebrał",
    },
}
"""notify quotes a delay's reason to the customer: in the shop's language, English otherwise."""


def is_test(body: Mapping[str, Any]) -> bool:
    """Shopify's "Send test notification" sends a sample order marked `test` (as are orders paid with
    the Bogus test gateway): answered, never an event."""
    return body.get("test") is True


def map_delivery(delivery: Delivery, terms: ShopTerms) -> Mapped | None:
    """The delivery's order and steps; None for a topic CareLoop does not map. Raises Unmappable."""
    mapper = TOPICS.get(delivery.topic)
    return None if mapper is None else mapper(delivery, terms)


# -- orders ------------------------------------------------------------------------------------------


def _order_facts(order: Mapping[str, Any], terms: ShopTerms) -> OrderFacts:
    buyer = obj(order.get("customer") or {}, "order.customer")
    shipping = obj(order.get("shipping_address") or {}, "order.shipping_address")
    billing = obj(order.get("billing_address") or {}, "order.billing_address")
    email = text(order, "email", 320) or text(order, "contact_email", 320) or text(buyer, "email", 320)
    phone = text(order, "phone", 32) or text(buyer, "phone", 32) or text(shipping, "phone", 32)
    # A guest checkout has no customer record: the e-mail (or phone) is what identifies the buyer.
    buyer_id = ident(buyer, "id", "order.customer") if buyer.get("id") is not None else None
    order_id = text(order, "name", 128) or ident(order, "id", "order")
    return OrderFacts(
        order_id=order_id,
        customer=customer(
            buyer_id or email or phone or f"guest-{ident(order, 'id', 'order')}",
            email,
            phone,
            full_name(text(buyer, "first_name"), text(buyer, "last_name"))
            or text(shipping, "name", 200)
            or text(billing, "name", 200),
            text(order, "customer_locale", 35) or terms.locale,
        ),
    )


def _when(delivery: Delivery, doc: Mapping[str, Any], where: str, *keys: str) -> datetime:
    """When the change happened: Shopify's trigger time, else the resource's own timestamps."""
    if delivery.signalled_at is not None:
        return delivery.signalled_at
    for key in keys:
        found = optional_instant(doc, key, where)
        if found is not None:
            return found
    return delivery.received_at


def _order(delivery: Delivery, terms: ShopTerms, step: Step) -> Mapped:
    order = delivery.body
    return Mapped(
        ident(order, "id", "order"),
        _when(delivery, order, "order", "updated_at", "created_at"),
        _order_facts(order, terms),
        (step,),
    )


def _line(line: Any, n: int) -> dict[str, Any]:
    item = obj(line, f"order.line_items[{n}]")
    sku = text(item, "sku", 100)
    if sku is None:
        sku = ident(item, "variant_id" if item.get("variant_id") else "id", f"order.line_items[{n}]")
    quantity = item.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise Unmappable(f"order.line_items[{n}].quantity: expected a whole number")
    return {
        "sku": sku,
        "name": text(item, "name", 300) or text(item, "title", 300) or sku,
        "quantity": quantity,
        "unit_price": money(item, "price", f"order.line_items[{n}]"),
    }


def _created(delivery: Delivery, terms: ShopTerms) -> Mapped:
    order = delivery.body
    lines = [_line(line, n) for n, line in enumerate(items(order.get("line_items"), "order.line_items"))]
    fields = {
        "total": money(order, "total_price", "order"),
        "currency": text(order, "currency", 64),
        "lines": [line for line in lines if line["quantity"] > 0][:MAX_LINES],
    }
    return _order(delivery, terms, Step("order.created", "", fields))


def _paid(delivery: Delivery, terms: ShopTerms) -> Mapped:
    order = delivery.body
    amount_key = "current_total_price" if order.get("current_total_price") is not None else "total_price"
    fields = {
        "amount": money(order, amount_key, "order"),
        "currency": text(order, "currency", 64),
        "payment_method": first_text(order, "payment_gateway_names", "order", 100),
    }
    return _order(delivery, terms, Step("order.paid", "", fields))


def _cancelled(delivery: Delivery, terms: ShopTerms) -> Mapped:
    reason = text(delivery.body, "cancel_reason", 500)
    return _order(delivery, terms, Step("order.cancelled", "", {"reason": reason}))


# -- fulfillments ------------------------------------------------------------------------------------


def _first(doc: Mapping[str, Any], key: str, plural: str, limit: int) -> str | None:
    return text(doc, key, limit) or first_text(doc, plural, "fulfillment", limit)


def _promised(fulfillment: Mapping[str, Any], at: datetime, terms: ShopTerms) -> date:
    zone = ZoneInfo(terms.timezone)
    estimate = optional_instant(fulfillment, "estimated_delivery_at", "fulfillment")
    if estimate is not None:
        return estimate.astimezone(zone).date()
    return at.astimezone(zone).date() + timedelta(days=terms.delivery_days)


def _fulfillment(delivery: Delivery, terms: ShopTerms) -> Mapped:
    found = delivery.body
    at = _when(delivery, found, "fulfillment", "updated_at", "created_at")
    order_id = ident(found, "order_id", "fulfillment")
    return Mapped(order_id, at, None, _shipment_steps(found, at, terms))


def _shipment_steps(found: Mapping[str, Any], at: datetime, terms: ShopTerms) -> tuple[Step, ...]:
    if found.get("status") in ("cancelled", "error", "failure"):
        return ()
    shipment = found.get("shipment_status")
    tracking = _first(found, "tracking_number", "tracking_numbers", 100)
    carrier = text(found, "tracking_company", 100)
    parcel = tracking or ident(found, "id", "fulfillment")
    if shipment in SHIPPED_STATUSES:
        if tracking is None:
            raise Unmappable(
                f"fulfillment {parcel}: no tracking number yet (order.shipped needs one); "
                "a fulfillments/update with one is applied"
            )
        url = _first(found, "tracking_url", "tracking_urls", 2000)
        shipped = {
            "carrier": carrier or "other",
            "tracking_number": tracking,
            "tracking_url": url if url and url.startswith(("https://", "http://")) else None,
            "promised_delivery_date": _promised(found, at, terms),
        }
        return (Step("order.shipped", tracking, shipped),)
    if shipment == "out_for_delivery":
        return (Step("order.out_for_delivery", parcel, {"carrier": carrier, "tracking_number": tracking}),)
    if shipment == "delivered":
        return (Step("order.delivered", parcel, {"delivered_at": at}),)
    if shipment in DELAY_REASONS:
        reasons = DELAY_REASONS[shipment]
        reason = reasons.get(terms.locale.split("-")[0], reasons["en"])
        return (Step("order.delayed", f"{shipment}:{parcel}", {"reason": reason}),)
    return ()  # ready_for_pickup and statuses Shopify may add: nothing CareLoop models


# -- refunds and returns -----------------------------------------------------------------------------


def _refund(delivery: Delivery, terms: ShopTerms) -> Mapped:
    refund = delivery.body
    refund_id = ident(refund, "id", "refund")
    transactions = [
        obj(t, f"refund.transactions[{n}]")
        for n, t in enumerate(items(refund.get("transactions"), "refund.transactions"))
    ]
    done = [t for t in transactions if t.get("kind") == "refund" and t.get("status") == "success"]
    at = _when(delivery, refund, "refund", "processed_at", "created_at")
    order_id = ident(refund, "order_id", "refund")
    if not done:
        return Mapped(order_id, at, None, ())  # restocked only, or a refund still pending: no money moved
    amount = sum((money(t, "amount", "refund.transactions[]") for t in done), Decimal(0))
    linked = refund.get("return")
    fields = {
        "amount": amount,
        "currency": text(done[0], "currency", 64),
        "return_id": ident(linked, "id", "refund.return") if isinstance(linked, Mapping) else None,
    }
    return Mapped(order_id, at, None, (Step("refund.issued", refund_id, fields),))


def _order_of_return(found: Mapping[str, Any]) -> str:
    order = obj(found.get("order"), "return.order")
    if order.get("id") is not None:
        return ident(order, "id", "return.order")
    gid = text(order, "admin_graphql_api_id", 200) or ""
    if not gid.startswith("gid://shopify/Order/"):
        raise Unmappable("return.order: expected an id")
    return gid.rsplit("/", 1)[1]


def _return_reason(found: Mapping[str, Any]) -> str | None:
    for n, line in enumerate(items(found.get("return_line_items"), "return.return_line_items")):
        item = obj(line, f"return.return_line_items[{n}]")
        said = text(item, "customer_note") or text(item, "return_reason_note")
        code = text(item, "return_reason")
        if said or (code and code != "unknown"):
            return said or (code or "").replace("_", " ")
    return None


def _return(step_type: str) -> Mapper:
    def mapper(delivery: Delivery, terms: ShopTerms) -> Mapped:
        found = delivery.body
        return_id = ident(found, "id", "return")
        fields: dict[str, Any] = {"return_id": return_id}
        if step_type == "return.requested":
            fields["reason"] = _return_reason(found)
        at = _when(delivery, found, "return", "updated_at", "created_at")
        return Mapped(_order_of_return(found), at, None, (Step(step_type, return_id, fields),))

    return mapper


TOPICS: dict[str, Mapper] = {
    "orders/create": _created,
    "orders/paid": _paid,
    "orders/cancelled": _cancelled,
    "fulfillments/create": _fulfillment,
    "fulfillments/update": _fulfillment,
    "refunds/create": _refund,
    "returns/request": _return("return.requested"),
    "returns/approve": _return("return.requested"),
    "returns/process": _return("return.received"),
    "returns/close": _return("return.received"),
}
"""The topics a shop subscribes CareLoop to (docs/platforms.md); any other is answered and ignored."""
