"""Every fixture of both platforms maps to the CareLoop steps of the table in docs/platforms.md, with
the fields the platform's payload gives."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.intake.domain.platforms import shopify, woocommerce
from services.intake.domain.platforms.deliveries import Mapped, Platform
from services.intake.domain.platforms.reading import Unmappable
from tests.platforms.payloads import TERMS, Fixture, fixture, fixtures

SHOPIFY_STEPS = {
    "orders_create": ["order.created"],
    "orders_paid": ["order.paid"],
    "orders_cancelled": ["order.cancelled"],
    "fulfillments_create": ["order.shipped"],
    "fulfillments_update.in_transit": ["order.shipped"],
    "fulfillments_update.out_for_delivery": ["order.out_for_delivery"],
    "fulfillments_update.attempted_delivery": ["order.delayed"],
    "fulfillments_update.failure": ["order.delayed"],
    "fulfillments_update.delivered": ["order.delivered"],
    "refunds_create": ["refund.issued"],
    "returns_request": ["return.requested"],
    "returns_approve": ["return.requested"],
    "returns_process": ["return.received"],
    "returns_close": ["return.received"],
}
WOOCOMMERCE_STEPS = {
    "order.created.pending": ["order.created"],
    "order.updated.on-hold": ["order.created"],
    "order.updated.processing": ["order.created", "order.paid"],
    "order.updated.completed": ["order.created", "order.shipped"],
    "order.updated.cancelled": ["order.created", "order.cancelled"],
    "order.updated.failed": ["order.created", "order.cancelled"],
    "order.updated.refunded": ["order.created", "refund.issued"],
}


def mapped(f: Fixture, body: dict[str, Any] | None = None) -> Mapped:
    mapper = shopify.map_delivery if f.platform is Platform.SHOPIFY else woocommerce.map_delivery
    result = mapper(f.delivery(body=body), TERMS)
    assert result is not None
    return result


def test_every_fixture_has_its_expected_steps() -> None:
    assert {f.name for f in fixtures(Platform.SHOPIFY)} == set(SHOPIFY_STEPS)
    assert {f.name for f in fixtures(Platform.WOOCOMMERCE)} == set(WOOCOMMERCE_STEPS)
    for f in fixtures(Platform.SHOPIFY):
        assert [s.event_type for s in mapped(f).steps] == SHOPIFY_STEPS[f.name], f.name
    for f in fixtures(Platform.WOOCOMMERCE):
        assert [s.event_type for s in mapped(f).steps] == WOOCOMMERCE_STEPS[f.name], f.name


def test_every_shopify_topic_of_the_table_has_a_fixture() -> None:
    assert {f.topic for f in fixtures(Platform.SHOPIFY)} == set(shopify.TOPICS)
    assert {f.topic for f in fixtures(Platform.WOOCOMMERCE)} == set(woocommerce.TOPICS)


def test_a_shopify_order_gives_the_customer_facing_number_and_the_customer() -> None:
    result = mapped(fixture(Platform.SHOPIFY, "orders_create"))
    assert result.platform_order_id == "5712345678123"
    assert result.at == datetime(2024, 3, 4, 9, 15, 2, tzinfo=UTC)
    assert result.facts is not None
    assert result.facts.order_id == "#1042"
    who = result.facts.customer
    assert (who.id, who.email, who.name, who.locale) == (
        "7106250408127",
        "anna.kowalska@example.com",
        "Anna Kowalska",
        "pl-PL",
    )
    (created,) = result.steps
    assert created.fields["total"] == Decimal("222.98")
    assert created.fields["currency"] == "PLN"
    # a line without a SKU is named by its variant
    assert [line["sku"] for line in created.fields["lines"]] == ["SKU-MUG-GRAPHITE", "44571120730303"]


def test_a_guest_checkout_is_identified_by_its_email() -> None:
    f = fixture(Platform.SHOPIFY, "orders_paid")
    result = mapped(f, {**f.body, "customer": None})
    assert result.facts is not None
    assert result.facts.customer.id == "anna.kowalska@example.com"
    (paid,) = result.steps
    assert paid.fields["amount"] == Decimal("222.98")
    assert paid.fields["payment_method"] == "przelewy24"


def test_the_trigger_time_wins_over_the_payloads_timestamps() -> None:
    f = fixture(Platform.SHOPIFY, "returns_request")
    at = datetime(2024, 3, 14, 8, 0, tzinfo=UTC)
    assert shopify.map_delivery(f.delivery(at=at), TERMS) == Mapped(
        "5712345678123", at, None, mapped(f).steps
    )


def test_a_shipment_carries_carrier_tracking_and_a_promise() -> None:
    (shipped,) = mapped(fixture(Platform.SHOPIFY, "fulfillments_create")).steps
    assert shipped.fields["carrier"] == "InPost"
    assert shipped.fields["tracking_number"] == "620512345678901234567890"
    assert shipped.fields["tracking_url"].startswith("https://inpost.pl/")
    # shipped on the 5th (Warsaw), the shop's delivery promise of three days
    assert shipped.fields["promised_delivery_date"] == date(2024, 3, 8)
    f = fixture(Platform.SHOPIFY, "fulfillments_update.in_transit")
    body = {**f.body, "estimated_delivery_at": "2024-03-06T18:00:00+01:00"}
    (estimated,) = mapped(f, body).steps
    assert estimated.fields["promised_delivery_date"] == date(2024, 3, 6)


def test_failed_and_attempted_deliveries_are_delays_with_a_reason_in_the_shops_language() -> None:
    (failed,) = mapped(fixture(Platform.SHOPIFY, "fulfillments_update.failure")).steps
    (attempted,) = mapped(fixture(Platform.SHOPIFY, "fulfillments_update.attempted_delivery")).steps
    assert failed.fields["reason"] == shopify.DELAY_REASONS["failure"]["pl"]
    assert attempted.fields["reason"] == shopify.DELAY_REASONS["attempted_delivery"]["pl"]
    assert failed.told != attempted.told


def test_a_shipment_without_a_tracking_number_is_unmappable() -> None:
    f = fixture(Platform.SHOPIFY, "fulfillments_create")
    body = {**f.body, "tracking_number": None, "tracking_numbers": []}
    with pytest.raises(Unmappable, match="no tracking number"):
        mapped(f, body)


def test_a_cancelled_fulfillment_or_pickup_is_nothing_careloop_models() -> None:
    f = fixture(Platform.SHOPIFY, "fulfillments_update.in_transit")
    assert mapped(f, {**f.body, "status": "cancelled"}).steps == ()
    assert mapped(f, {**f.body, "shipment_status": "ready_for_pickup"}).steps == ()


def test_a_refund_sums_its_successful_refund_transactions() -> None:
    f = fixture(Platform.SHOPIFY, "refunds_create")
    (refund,) = mapped(f).steps
    assert (refund.ref, refund.fields["amount"], refund.fields["currency"]) == (
        "929361462",
        Decimal("118.00"),
        "PLN",
    )
    assert refund.fields["return_id"] == "945000962"
    pending = [{**t, "status": "pending"} for t in f.body["transactions"]]
    assert mapped(f, {**f.body, "transactions": pending}).steps == ()


def test_a_return_request_quotes_the_customer() -> None:
    (requested,) = mapped(fixture(Platform.SHOPIFY, "returns_request")).steps
    assert requested.fields == {
        "return_id": "945000962",
        "reason": "Kubek nie trzyma ciepła tak, jak w opisie.",
    }


def test_shopify_test_pings_and_unknown_topics() -> None:
    f = fixture(Platform.SHOPIFY, "orders_create")
    assert shopify.is_test({**f.body, "test": True})
    assert not shopify.is_test(f.body)
    delivery = f.delivery()
    other = type(delivery)(delivery.platform, "products/update", "k", {"id": 1}, delivery.received_at)
    assert shopify.map_delivery(other, TERMS) is None


def test_malformed_payloads_say_which_field() -> None:
    f = fixture(Platform.SHOPIFY, "orders_create")
    with pytest.raises(Unmappable, match=r"order\.total_price: not an amount"):
        mapped(f, {**f.body, "total_price": "free"})
    with pytest.raises(Unmappable, match=r"order\.id: expected an id"):
        mapped(f, {**f.body, "id": None})
    with pytest.raises(Unmappable, match="customer email"):
        mapped(f, {**f.body, "email": "not an address"})


def test_a_woocommerce_order_in_utc_with_its_number_and_lines() -> None:
    result = mapped(fixture(Platform.WOOCOMMERCE, "order.updated.processing"))
    assert result.platform_order_id == "727"
    assert result.at == datetime(2024, 3, 4, 10, 2, 44, tzinfo=UTC)
    assert result.facts is not None
    assert (result.facts.order_id, result.facts.customer.id, result.facts.customer.name) == (
        "727",
        "26",
        "Jan Nowak",
    )
    created, paid = result.steps
    assert [line["sku"] for line in created.fields["lines"]] == ["SKU-KETTLE", "104"]
    assert paid.fields == {
        "amount": Decimal("222.98"),
        "currency": "PLN",
        "payment_method": "Przelew bankowy",
    }


def test_a_completed_woocommerce_order_is_shipped_with_its_tracking() -> None:
    f = fixture(Platform.WOOCOMMERCE, "order.updated.completed")
    _, shipped = mapped(f).steps
    assert shipped.fields["carrier"] == "DPD Polska"
    assert shipped.fields["tracking_number"] == "0000412345678U"
    assert shipped.fields["promised_delivery_date"] == date(2024, 3, 8)  # shipped on the 5th, three days
    untracked = {
        **f.body,
        "meta_data": [m for m in f.body["meta_data"] if m["key"] != woocommerce.TRACKING_META],
    }
    with pytest.raises(Unmappable, match="completed without a tracking number"):
        mapped(f, untracked)


def test_woocommerce_refunds_each_count_once() -> None:
    f = fixture(Platform.WOOCOMMERCE, "order.updated.refunded")
    _, refund = mapped(f).steps
    assert (refund.ref, refund.fields["amount"]) == ("731", Decimal("222.98"))
    partial = {**f.body, "status": "processing", "refunds": [{"id": 801, "reason": "", "total": "-20.00"}]}
    assert [(s.event_type, s.ref) for s in mapped(f, partial).steps] == [
        ("order.created", ""),
        ("order.paid", ""),
        ("refund.issued", "801"),
    ]
    whole = {**f.body, "refunds": []}
    assert [(s.event_type, s.ref) for s in mapped(f, whole).steps][-1] == ("refund.issued", "order")


def test_a_failed_payment_cancels_with_a_reason_and_drafts_are_not_orders_yet() -> None:
    _, failed = mapped(fixture(Platform.WOOCOMMERCE, "order.updated.failed")).steps
    assert failed.fields["reason"] == woocommerce.FAILED_REASON["pl"]
    f = fixture(Platform.WOOCOMMERCE, "order.created.pending")
    assert mapped(f, {**f.body, "status": "checkout-draft"}).steps == ()
    guest = mapped(f, {**f.body, "customer_id": 0})
    assert guest.facts is not None
    assert guest.facts.customer.id == "jan.nowak@example.com"


def test_text_postgres_cannot_store_is_unmappable_not_a_server_error() -> None:
    f = fixture(Platform.SHOPIFY, "orders_create")
    with pytest.raises(Unmappable, match="name: contains a NUL character"):
        mapped(f, {**f.body, "name": "#10\x0042"})
    with pytest.raises(Unmappable, match="not valid Unicode text"):
        mapped(f, {**f.body, "customer": {**f.body["customer"], "first_name": "An\ud800na"}})
    w = fixture(Platform.WOOCOMMERCE, "order.updated.processing")
    with pytest.raises(Unmappable, match=r"order\.id: contains a NUL"):
        mapped(w, {**w.body, "id": "72\x007"})
