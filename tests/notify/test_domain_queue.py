from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.notify.domain.queue import (
    DeliveryStatus,
    QueuedDelivery,
    choose,
    heads,
    ordering_key,
    ready,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def item(
    seq: int,
    order: str = "o1",
    endpoint: str = "ep1",
    status: DeliveryStatus = DeliveryStatus.PENDING,
    due: int = 0,
    lease_expired: bool = False,
) -> QueuedDelivery:
    return QueuedDelivery(f"d{seq}", endpoint, order, seq, status, T0 + timedelta(seconds=due), lease_expired)


def test_a_later_step_waits_for_the_earlier_one_of_the_same_order() -> None:
    queue = [item(1, due=300), item(2), item(3, order="o2")]
    # d1 is waiting for its retry: d2 (same order) must wait too; o2 is independent
    assert [d.id for d in ready(queue, T0)] == ["d3"]
    assert [d.id for d in ready(queue, T0 + timedelta(seconds=300))] == ["d3", "d1"]  # oldest due first


def test_finished_steps_release_the_next_and_in_flight_steps_hold_it() -> None:
    assert [d.id for d in ready([item(1, status=DeliveryStatus.SUCCEEDED), item(2)], T0)] == ["d2"]
    assert [d.id for d in ready([item(1, status=DeliveryStatus.DEAD), item(2)], T0)] == ["d2"]
    assert ready([item(1, status=DeliveryStatus.DELIVERING), item(2)], T0) == []
    abandoned = item(1, status=DeliveryStatus.DELIVERING, lease_expired=True)
    assert [d.id for d in ready([abandoned, item(2)], T0)] == ["d1"]


def test_the_same_order_on_two_endpoints_is_two_queues() -> None:
    queue = [item(1, endpoint="ep1", due=60), item(2, endpoint="ep2")]
    assert [d.id for d in ready(queue, T0)] == ["d2"]


def test_choose_takes_endpoints_in_turns_within_capacity() -> None:
    busy = [item(i, order=f"o{i}", endpoint="busy") for i in range(10)]
    calm = [item(100 + i, order=f"c{i}", endpoint="calm") for i in range(2)]
    chosen = choose(busy + calm, {"busy": 3, "calm": 5}, limit=4)
    assert [d.endpoint_id for d in chosen] == ["busy", "calm", "busy", "calm"]
    assert choose(busy, {"busy": 0}, limit=10) == []
    assert len(choose(busy + calm, {"busy": 3, "calm": 5}, limit=100)) == 5


def test_ordering_key_prefers_the_order() -> None:
    assert ordering_key({"order_id": "o1", "ticket_id": "t1"}, "e") == "order:o1"
    assert ordering_key({"ticket_id": "t1", "order_id": None}, "e") == "ticket:t1"
    assert ordering_key({"survey_id": "s1"}, "e") == "survey:s1"
    assert ordering_key({}, "e9") == "event:e9"


statuses = st.sampled_from(list(DeliveryStatus))
queues = st.lists(
    st.tuples(
        st.sampled_from(["ep1", "ep2"]),
        st.sampled_from(["o1", "o2", "o3"]),
        statuses,
        st.integers(0, 100),
        st.booleans(),
    ),
    max_size=30,
)


@given(queues, st.integers(0, 100))
def test_ready_never_lets_a_step_overtake_an_unfinished_earlier_one(
    rows: list[tuple[str, str, DeliveryStatus, int, bool]], at: int
) -> None:
    queue = [
        item(seq, order, ep, status, due, expired)
        for seq, (ep, order, status, due, expired) in enumerate(rows)
    ]
    now = T0 + timedelta(seconds=at)
    picked = ready(queue, now)
    for d in picked:
        earlier = [
            q for q in queue if (q.endpoint_id, q.order_key) == (d.endpoint_id, d.order_key) and q.seq < d.seq
        ]
        assert all(q.status.finished for q in earlier)
        assert d.due_at <= now
        assert d.claimable
    # at most one per (endpoint, order), and every due, claimable group head is picked
    assert len({(d.endpoint_id, d.order_key) for d in picked}) == len(picked)
    for head in heads(queue):
        if head.claimable and head.due_at <= now:
            assert head in picked


@given(queues, st.dictionaries(st.sampled_from(["ep1", "ep2"]), st.integers(-2, 5)), st.integers(0, 10))
def test_choose_respects_every_capacity_and_the_limit(
    rows: list[tuple[str, str, DeliveryStatus, int, bool]], capacity: dict[str, int], limit: int
) -> None:
    candidates = [
        item(seq, o, ep, DeliveryStatus.PENDING, due) for seq, (ep, o, _, due, _) in enumerate(rows)
    ]
    chosen = choose(candidates, capacity, limit)
    assert len(chosen) <= limit
    for endpoint in ("ep1", "ep2"):
        assert sum(d.endpoint_id == endpoint for d in chosen) <= max(0, capacity.get(endpoint, 0))
    assert len(set(chosen)) == len(chosen)
    # work-conserving: stops only at the limit or when no candidate has room left
    if len(chosen) < limit:
        for endpoint in ("ep1", "ep2"):
            waiting = sum(d.endpoint_id == endpoint for d in candidates)
            taken = sum(d.endpoint_id == endpoint for d in chosen)
            assert taken == min(waiting, max(0, capacity.get(endpoint, 0)))
