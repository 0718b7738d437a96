"""Signed Shopify `orders/create` deliveries for the adapter's HTTP figures (bench/http_bench.py).

wrk's Lua has no HMAC, so the deliveries are signed here and written to a file that bench/lua/load.lua
walks in its `signed` mode, one delivery a line:

    <base64 HMAC-SHA256 of the body>\\t<X-Shopify-Event-Id>\\t<X-Shopify-Triggered-At>\\t<JSON body>

Every delivery is a new order (its own id, name and customer) with its own event id: concurrent
requests never wait for one order's row lock, and none is a duplicate the adapter stops early. The
bodies have the shape and size of what Shopify sends (its published orders/create payload: money
sets, addresses, customer, tax and shipping lines), one to three line items each. The signature is
computed here with the standard library, independently of the adapter's code that checks it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

TOPIC = "orders/create"
FIRST_ORDER_ID = 5_800_000_000_000
FIRST_ORDER_NUMBER = 1001
CURRENCY = "PLN"
VAT = Decimal("0.23")
SHIPPING = Decimal("14.99")

CATALOG = (
    ("Kubek termiczny", "Grafitowy", "SKU-MUG-GRAPHITE", Decimal("59.00"), 350),
    ("Lampka biurkowa LED", None, "SKU-LAMP-LED", Decimal("89.99"), 900),
    ("Plecak miejski 22 l", "Granatowy", "SKU-BAG-22-NAVY", Decimal("179.00"), 700),
    ("Skarpety merino", "Rozmiar 39-42", "SKU-SOCK-MER-39", Decimal("39.90"), 80),
    ("Czajnik elektryczny 1,7 l", "Stal", "SKU-KETTLE-17", Decimal("129.00"), 1300),
)
PEOPLE = (
    ("Anna", "Kowalska", "Kraków", "31-147", "ul. Długa 12"),
    ("Piotr", "Nowak", "Warszawa", "00-950", "ul. Marszałkowska 104"),
    ("Zofia", "Wiśniewska", "Gdańsk", "80-831", "ul. Piwna 7"),
    ("Marek", "Wójcik", "Poznań", "61-772", "ul. Półwiejska 32"),
)


def signature(raw: bytes, secret: str) -> str:
    """Shopify's X-Shopify-Hmac-Sha256: base64 of HMAC-SHA256 over the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def _money(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.01'))}"


def _set(amount: Decimal) -> dict[str, Any]:
    money = {"amount": _money(amount), "currency_code": CURRENCY}
    return {"shop_money": money, "presentment_money": dict(money)}


def _tax(gross: Decimal) -> Decimal:
    """The VAT inside a tax-inclusive price."""
    return (gross - gross / (1 + VAT)).quantize(Decimal("0.01"))


def _address(first: str, last: str, city: str, zip_code: str, street: str) -> dict[str, Any]:
    return {
        "first_name": first,
        "last_name": last,
        "name": f"{first} {last}",
        "company": None,
        "address1": street,
        "address2": None,
        "city": city,
        "province": None,
        "province_code": None,
        "zip": zip_code,
        "country": "Poland",
        "country_code": "PL",
        "phone": "+48 600 100 200",
    }


def _line(n: int, k: int) -> tuple[dict[str, Any], Decimal]:
    title, variant, sku, price, grams = CATALOG[(n + 2 * k) % len(CATALOG)]
    quantity = 1 + (n + k) % 2
    line_id = 13_698_014_000_000 + n * 4 + k
    total = price * quantity
    line = {
        "id": line_id,
        "admin_graphql_api_id": f"gid://shopify/LineItem/{line_id}",
        "current_quantity": quantity,
        "fulfillable_quantity": quantity,
        "fulfillment_service": "manual",
        "fulfillment_status": None,
        "gift_card": False,
        "grams": grams,
        "name": f"{title} - {variant}" if variant else title,
        "price": _money(price),
        "price_set": _set(price),
        "product_exists": True,
        "product_id": 8_123_459_000_000 + (n + 2 * k) % len(CATALOG),
        "properties": [],
        "quantity": quantity,
        "requires_shipping": True,
        "sku": sku,
        "taxable": True,
        "title": title,
        "total_discount": "0.00",
        "total_discount_set": _set(Decimal(0)),
        "variant_id": 44_571_120_000_000 + (n + 2 * k) % len(CATALOG),
        "variant_inventory_management": "shopify",
        "variant_title": variant,
        "vendor": "Sklep Demo",
        "tax_lines": [
            {"price": _money(_tax(total)), "price_set": _set(_tax(total)), "rate": 0.23, "title": "VAT"}
        ],
        "duties": [],
        "discount_allocations": [],
    }
    return line, total


def _customer(n: int, email: str, at: str) -> dict[str, Any]:
    first, last, city, zip_code, street = PEOPLE[n % len(PEOPLE)]
    customer_id = 7_106_250_000_000 + n
    return {
        "id": customer_id,
        "email": email,
        "created_at": at,
        "updated_at": at,
        "first_name": first,
        "last_name": last,
        "state": "enabled",
        "note": None,
        "verified_email": True,
        "tax_exempt": False,
        "phone": None,
        "currency": CURRENCY,
        "tags": "",
        "admin_graphql_api_id": f"gid://shopify/Customer/{customer_id}",
        "default_address": {"id": 9_240_164_000_000 + n, "customer_id": customer_id, "default": True}
        | _address(first, last, city, zip_code, street),
    }


def order(n: int, at: datetime) -> dict[str, Any]:
    """Shopify's orders/create body of the bench's n-th order, placed at `at`."""
    first, last, city, zip_code, street = PEOPLE[n % len(PEOPLE)]
    order_id, number = FIRST_ORDER_ID + n, FIRST_ORDER_NUMBER + n
    email = f"{first}.{last}.{n}@example.com".lower()
    when = at.isoformat()
    lines = [_line(n, k) for k in range(1 + n % 3)]
    subtotal = sum((total for _, total in lines), Decimal(0))
    total = subtotal + SHIPPING
    token = hashlib.sha256(f"order-{n}".encode()).hexdigest()[:32]
    address = _address(first, last, city, zip_code, street)
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "app_id": 580111,
        "browser_ip": "203.0.113.54",
        "buyer_accepts_marketing": n % 2 == 0,
        "cancel_reason": None,
        "cancelled_at": None,
        "checkout_id": 36_712_345_000_000 + n,
        "checkout_token": token,
        "client_details": {
            "accept_language": "pl-PL",
            "browser_ip": "203.0.113.54",
            "user_agent": "Mozilla/5.0",
        },
        "closed_at": None,
        "confirmation_number": token[:9].upper(),
        "confirmed": True,
        "contact_email": email,
        "created_at": when,
        "currency": CURRENCY,
        "current_subtotal_price": _money(subtotal),
        "current_subtotal_price_set": _set(subtotal),
        "current_total_discounts": "0.00",
        "current_total_discounts_set": _set(Decimal(0)),
        "current_total_price": _money(total),
        "current_total_price_set": _set(total),
        "current_total_tax": _money(_tax(total)),
        "current_total_tax_set": _set(_tax(total)),
        "customer_locale": "pl-PL",
        "discount_codes": [],
        "email": email,
        "estimated_taxes": False,
        "financial_status": "pending",
        "fulfillment_status": None,
        "landing_site": "/",
        "name": f"#{number}",
        "note": None,
        "note_attributes": [],
        "number": number - 1000,
        "order_number": number,
        "order_status_url": f"https://sklep-demo.example/64512345/orders/{token}/authenticate?key={token[:8]}",
        "payment_gateway_names": ["przelewy24"],
        "phone": None,
        "presentment_currency": CURRENCY,
        "processed_at": when,
        "source_name": "web",
        "subtotal_price": _money(subtotal),
        "subtotal_price_set": _set(subtotal),
        "tags": "",
        "tax_exempt": False,
        "tax_lines": [
            {"price": _money(_tax(total)), "rate": 0.23, "title": "VAT", "price_set": _set(_tax(total))}
        ],
        "taxes_included": True,
        "test": False,
        "token": token,
        "total_discounts": "0.00",
        "total_discounts_set": _set(Decimal(0)),
        "total_line_items_price": _money(subtotal),
        "total_line_items_price_set": _set(subtotal),
        "total_outstanding": _money(total),
        "total_price": _money(total),
        "total_price_set": _set(total),
        "total_shipping_price_set": _set(SHIPPING),
        "total_tax": _money(_tax(total)),
        "total_tax_set": _set(_tax(total)),
        "total_weight": sum(line["grams"] * line["quantity"] for line, _ in lines),
        "updated_at": when,
        "billing_address": address,
        "customer": _customer(n, email, when),
        "discount_applications": [],
        "fulfillments": [],
        "line_items": [line for line, _ in lines],
        "refunds": [],
        "shipping_address": dict(address),
        "shipping_lines": [
            {
                "id": 4_512_345_000_000 + n,
                "code": "InPost Paczkomat",
                "discounted_price": _money(SHIPPING),
                "discounted_price_set": _set(SHIPPING),
                "price": _money(SHIPPING),
                "price_set": _set(SHIPPING),
                "source": "shopify",
                "title": "InPost Paczkomat 24/7",
                "tax_lines": [],
                "discount_allocations": [],
            }
        ],
    }


def delivery_line(n: int, at: datetime, secret: str) -> str:
    """One line of the file: signature, event id, trigger time and the compact JSON body (JSON
    escapes tabs and newlines inside strings, so neither occurs in the body's text)."""
    raw = json.dumps(order(n, at), ensure_ascii=False, separators=(",", ":")).encode()
    triggered = (at + timedelta(milliseconds=250)).isoformat()
    return f"{signature(raw, secret)}\t{uuid.uuid4()}\t{triggered}\t{raw.decode()}\n"


@dataclass
class Deliveries:
    """A source of delivery files for bench/wrk.py: each wrk run gets a new file of new orders (the
    numbering goes on from the last file), holding `per_second` deliveries per second of the run,
    more than the adapter answers here, so the run never reaches the end and wraps to repeats."""

    directory: Path
    per_second: float
    secret: str = field(default_factory=lambda: "shpss_bench_" + secrets.token_hex(16))
    """The shop's Shopify secret for one scenario, registered in its throwaway schema."""
    slack: int = 64
    """Extra lines for the requests in flight when wrk stops."""
    next_order: int = 0
    start: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def lines_for(self, seconds: float) -> int:
        return math.ceil(self.per_second * seconds) + self.slack

    def file_for(self, seconds: float) -> Path:
        """The file of the next wrk run of `seconds` (the previous run's file is overwritten)."""
        path = self.directory / "shopify-deliveries.tsv"
        count = self.lines_for(seconds)
        with path.open("w", encoding="utf-8") as out:
            for n in range(self.next_order, self.next_order + count):
                out.write(delivery_line(n, self.start + timedelta(milliseconds=10 * n), self.secret))
        self.next_order += count
        return path
