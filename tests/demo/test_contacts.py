from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from demo.contacts import (
    GATEWAY_CHANNELS,
    ContactMix,
    contacts_for_journey,
    walk_in_contacts,
)
from demo.journeys import JourneyMix, order_journey
from demo.shop import ShopTimeline
from schemas.registry import decode_event, encode_event, make_event
from schemas.v1.contacts import Channel, ContactReceived

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
ALWAYS = ContactMix(
    about_delay=1,
    about_shipment=1,
    about_return=1,
    about_repair=1,
    about_cancellation=1,
    follow_up=1,
    duplicate=1,
)


@settings(max_examples=150)
@given(st.integers(min_value=0, max_value=2**32))
def test_contacts_follow_their_journey_and_are_valid_events(seed: int) -> None:
    rng = random.Random(seed)
    journey = order_journey(rng, "demo-shop", 3, START)
    contacts = contacts_for_journey(rng, journey)
    assert [c.due for c in contacts] == sorted(c.due for c in contacts)
    for c in contacts:
        assert c.due > journey[0].due
        assert c.contact.order_id == journey[0].order_id
        assert c.contact.shop_id == "demo-shop"
        # someone to answer, reachable on the channel chosen
        if c.contact.channel is Channel.PHONE:
            assert c.contact.customer_phone
        elif c.contact.channel is Channel.SOCIAL:
            assert c.contact.customer_handle
        else:
            assert c.contact.customer_email == journey[0].event.data.customer.email
        assert c.via_gateway == (c.contact.channel in GATEWAY_CHANNELS)
        event = make_event("contact.received", "t", c.contact)
        assert decode_event(encode_event(event)).data == c.contact


@settings(max_examples=100)
@given(st.integers(min_value=0, max_value=2**32))
def test_follow_ups_share_the_thread_and_duplicates_repeat_the_message_id(seed: int) -> None:
    rng = random.Random(seed)
    journey = order_journey(rng, "demo-shop", 9, START, mix=JourneyMix(delayed=1.0, cancelled=0.0))
    contacts = contacts_for_journey(rng, journey, mix=ALWAYS)
    by_thread: dict[str | None, list[ContactReceived]] = {}
    for c in contacts:
        by_thread.setdefault(c.contact.thread_id, []).append(c.contact)
    for messages in by_thread.values():
        ids = Counter(m.channel_message_id for m in messages)
        assert len(ids) == 2  # the first message (sent twice) and the follow-up
        assert sorted(ids.values()) == [1, 2]
        assert len({m.channel for m in messages}) == 1


def test_about_a_fifth_of_walk_ins_arrive_per_channel_share() -> None:
    contacts = walk_in_contacts(random.Random(1), "demo-shop", START, 2000, first_customer_no=1)
    firsts = [
        c for c in contacts if c.contact.channel_message_id and c.contact.channel_message_id.endswith("-1")
    ]
    shares = Counter(c.contact.channel for c in firsts)
    assert 0.3 < shares[Channel.EMAIL] / len(firsts) < 0.4
    assert 0.07 < shares[Channel.PHONE] / len(firsts) < 0.13
    assert all(START <= c.due < START + timedelta(days=1, hours=9) for c in contacts)
    assert all(c.contact.order_id is None for c in contacts)


def test_the_timeline_releases_each_item_once_in_time_order() -> None:
    timeline = ShopTimeline(random.Random(5), "demo-shop", START, 20, first_order_no=100)
    released = []
    now = START
    for _ in range(3 * 24 * 4):
        now += timedelta(minutes=15)
        batch = timeline.release(now)
        assert all(item.due <= now for item in batch)
        released += batch
    dues = [item.due for item in released]
    assert dues == sorted(dues)
    orders = {
        item.event.subject
        for item in released
        if hasattr(item, "event") and item.event.type == "order.created"
    }
    assert len(orders) >= 40  # two full days of 20 orders, the third day under way
    assert min(int(str(o).rsplit("-", 1)[1]) for o in orders) == 100


def test_the_same_seed_plans_the_same_shop() -> None:
    def plan(seed: int) -> list[str]:
        timeline = ShopTimeline(random.Random(seed), "demo-shop", START, 10)
        return [
            item.event.type if hasattr(item, "event") else item.contact.body
            for item in timeline.release(START + timedelta(days=2))
        ]

    assert plan(3) == plan(3)
    assert plan(3) != plan(4)
