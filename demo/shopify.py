"""The demo shop as a Shopify store (`DEMO_PLATFORM=shopify`): its order journeys go to intake's Shopify
adapter as signed webhooks, the way a store connected to CareLoop sends them, instead of CloudEvents
straight onto orders.events.

Each journey step becomes the delivery of the Shopify topic it stands for (docs/platforms.md, read
backwards), with Shopify's headers and the store's HMAC; the step's instant is the trigger time. A
repair has no Shopify topic: those steps still go to orders.events directly. What Shopify's payloads
do not carry is lost on the way, as with a real store: a paid order's ship-by promise (sla applies the
shop's default), a delay's new date.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import zlib
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

from schemas.envelope import CloudEvent
from schemas.v1.common import Customer
from schemas.v1.orders import (
    OrderCancelled,
    OrderCreated,
    OrderDelayed,
    OrderDelivered,
    OrderEventData,
    OrderOutForDelivery,
    OrderPaid,
    OrderShipped,
    RefundIssued,
    ReturnReceived,
    ReturnRequested,
)

TOPICS = {
    "order.created": "orders/create",
    "order.paid": "orders/paid",
    "order.cancelled": "orders/cancelled",
    "order.shipped": "fulfillments/create",
    "order.delayed": "fulfillments/update",
    "order.out_for_delivery": "fulfillments/update",
    "order.delivered": "fulfillments/update",
    "return.requested": "returns/request",
    "return.received": "returns/close",
    "refund.issued": "refunds/create",
}
"""The steps a Shopify store sends as webhooks, and the topic of each."""


def shopify_id(text: str) -> int:
    """A Shopify-style numeric id for one of the demo's ids ("demo-shop-0000042" → 42)."""
    last = text.rsplit("-", 1)[-1]
    return int(last) if last.isdigit() else zlib.crc32(text.encode())


def sign(raw: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _customer(who: Customer) -> dict[str, Any]:
    first, _, last = (who.name or "").partition(" ")
    return {
        "id": who.id,
        "email": who.email,
        "phone": who.phone,
        "first_name": first or None,
        "last_name": last or None,
    }


class ShopifyStore:
    """Turns the demo's order steps into Shopify deliveries. Remembers each order's parcel between its
    fulfillment's creation and its delivery, as Shopify's fulfillment updates repeat it."""

    def __init__(self, shop_id: str, secret: str) -> None:
        self.shop_id = shop_id
        self.secret = secret
        self._parcels: dict[str, dict[str, Any]] = {}

    @property
    def path(self) -> str:
        return f"/v1/platforms/shopify/{self.shop_id}"

    def delivery(self, event: CloudEvent[Any]) -> tuple[bytes, dict[str, str]] | None:
        """The body and headers of the step's webhook; None for a step Shopify has no topic for."""
        topic = TOPICS.get(event.type)
        if topic is None:
            return None
        raw = json.dumps(self._body(event), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": sign(raw, self.secret),
            "X-Shopify-Shop-Domain": f"{self.shop_id}.myshopify.com",
            "X-Shopify-API-Version": "2024-07",
            "X-Shopify-Webhook-Id": event.id,
            "X-Shopify-Event-Id": event.id,
            "X-Shopify-Triggered-At": event.time.isoformat(),
        }
        return raw, headers

    def _body(self, event: CloudEvent[Any]) -> dict[str, Any]:
        data: OrderEventData = event.data
        at = event.time.isoformat()
        if isinstance(data, OrderShipped | OrderOutForDelivery | OrderDelayed | OrderDelivered):
            return self._fulfillment(data, at)
        if isinstance(data, ReturnRequested | ReturnReceived):
            return self._return(data)
        if isinstance(data, RefundIssued):
            return self._refund(data, at)
        return self._order(data, at)

    def _order(self, data: OrderEventData, at: str) -> dict[str, Any]:
        who = data.customer
        order: dict[str, Any] = {
            "id": shopify_id(data.order_id),
            "admin_graphql_api_id": f"gid://shopify/Order/{shopify_id(data.order_id)}",
            "name": data.order_id,
            "email": who.email,
            "phone": who.phone,
            "customer_locale": who.locale,
            "customer": _customer(who),
            "created_at": at,
            "updated_at": at,
            "test": False,
        }
        if isinstance(data, OrderCreated):
            order |= {
                "currency": data.currency,
                "total_price": _money(data.total),
                "financial_status": "pending",
                "line_items": [
                    {
                        "id": zlib.crc32(f"{data.order_id}:{n}".encode()),
                        "sku": line.sku,
                        "name": line.name,
                        "title": line.name,
                        "quantity": line.quantity,
                        "price": _money(line.unit_price),
                    }
                    for n, line in enumerate(data.lines)
                ],
            }
        elif isinstance(data, OrderPaid):
            gateways = [data.payment_method] if data.payment_method else []
            order |= {
                "currency": data.currency,
                "total_price": _money(data.amount),
                "financial_status": "paid",
                "payment_gateway_names": gateways,
            }
        elif isinstance(data, OrderCancelled):
            order |= {"cancel_reason": "customer", "cancelled_at": at, "financial_status": "voided"}
        return order

    def _fulfillment(self, data: OrderEventData, at: str) -> dict[str, Any]:
        if isinstance(data, OrderShipped):
            promised = datetime.combine(data.promised_delivery_date, time(12), UTC)
            self._parcels[data.order_id] = {
                "tracking_company": data.carrier,
                "tracking_number": data.tracking_number,
                "tracking_numbers": [data.tracking_number],
                "tracking_url": str(data.tracking_url) if data.tracking_url else None,
                "estimated_delivery_at": promised.isoformat(),
            }
        status = {
            OrderShipped: "in_transit",
            OrderDelayed: "failure",
            OrderOutForDelivery: "out_for_delivery",
            OrderDelivered: "delivered",
        }[type(data)]
        parcel = self._parcels.get(data.order_id, {})
        if isinstance(data, OrderDelivered):
            self._parcels.pop(data.order_id, None)
        return {
            "id": shopify_id(data.order_id) * 10 + 1,
            "order_id": shopify_id(data.order_id),
            "name": f"{data.order_id}.1",
            "status": "success",
            "shipment_status": status,
            "created_at": at,
            "updated_at": at,
            "email": data.customer.email,
            **parcel,
        }

    def _return(self, data: ReturnRequested | ReturnReceived) -> dict[str, Any]:
        lines = []
        if isinstance(data, ReturnRequested):
            lines = [{"quantity": 1, "return_reason": "other", "customer_note": data.reason}]
        return {
            "id": data.return_id,
            "status": "requested" if isinstance(data, ReturnRequested) else "closed",
            "order": {"id": shopify_id(data.order_id)},
            "return_line_items": lines,
        }

    def _refund(self, data: RefundIssued, at: str) -> dict[str, Any]:
        transaction = {
            "kind": "refund",
            "status": "success",
            "amount": _money(data.amount),
            "currency": data.currency,
            "gateway": "manual",
        }
        refund: dict[str, Any] = {
            "id": zlib.crc32(f"{data.order_id}:refund:{data.return_id}".encode()),
            "order_id": shopify_id(data.order_id),
            "created_at": at,
            "processed_at": at,
            "transactions": [transaction],
        }
        if data.return_id:
            refund["return"] = {"id": data.return_id}
        return refund
