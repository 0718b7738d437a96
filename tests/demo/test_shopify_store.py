"""DEMO_PLATFORM=shopify: the demo's journeys as a Shopify store's signed webhooks, read back by intake's
Shopify adapter, are the journeys again (what Shopify's payloads cannot carry aside)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from demo.journeys import JourneyMix, order_journey
from demo.shopify import TOPICS, ShopifyStore
from services.intake.domain.platforms import shopify
from services.intake.domain.platforms.deliveries import (
    Delivery,
    Incoming,
    OrderState,
    Platform,
    ShopTerms,
    apply_delivery,
)

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SECRET = "shpss_test_demo_store"
TERMS = ShopTerms(locale="pl", timezone="Europe/Warsaw", delivery_days=2)
EVERY_PATH = JourneyMix(cancelled=0.15, delayed=0.5, late_shipment=0.1, returned=0.4, repaired=0.2)
LOST_ON_THE_WAY = {"ship_by", "new_promised_delivery_date", "reason", "payment_method", "skus"}
"""Fields the demo's steps carry that a Shopify payload does not (or that the adapter words itself)."""


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_a_journey_through_the_shopify_adapter_is_the_same_journey(seed: int) -> None:
    steps = order_journey(random.Random(seed), "demo-shop", 42, START, mix=EVERY_PATH)
    store = ShopifyStore("demo-shop", SECRET)
    state = OrderState()
    through_adapter = []
    for step in steps:
        delivery = store.delivery(step.event)
        if delivery is None:
            assert step.event.type.startswith("repair.")  # still published as a CloudEvent
            continue
        raw, headers = delivery
        expected = base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode()
        assert headers["X-Shopify-Hmac-Sha256"] == expected
        assert headers["X-Shopify-Topic"] == TOPICS[step.event.type]
        at = datetime.fromisoformat(headers["X-Shopify-Triggered-At"])
        mapped = shopify.map_delivery(
            Delivery(Platform.SHOPIFY, headers["X-Shopify-Topic"], step.event.id, json.loads(raw), at, at),
            TERMS,
        )
        assert mapped is not None
        applied = apply_delivery(state, Incoming(step.event.id, mapped), "demo-shop", Platform.SHOPIFY)
        state = applied.state
        assert len(applied.events) == 1, step.event.type
        (event,) = applied.events
        assert (event.event_type, event.at) == (step.event.type, step.event.time)
        through_adapter.append(event)
        sent = step.event.data.model_dump(exclude=LOST_ON_THE_WAY)
        got = event.data.model_dump(exclude=LOST_ON_THE_WAY)
        # what the step said arrives as it was said (the adapter may know more: the parcel's tracking)
        assert {k: got[k] for k, v in sent.items() if v is not None} == {
            k: v for k, v in sent.items() if v is not None
        }
    assert [e.data.order_id for e in through_adapter] == ["demo-shop-0000042"] * len(through_adapter)
