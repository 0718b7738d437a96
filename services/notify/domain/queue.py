"""Which queued deliveries may go now.

Ordering rule: per (endpoint, order key) only the earliest unfinished delivery may be attempted; a
later step waits until every earlier one succeeded or was dead-lettered. Groups are independent,
so one order's stuck step never blocks another order. Among ready deliveries, endpoints are served
round-robin within their capacity (concurrency, breaker, rate limit), so a busy or dead endpoint
cannot take a healthy endpoint's turn.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERING = "delivering"
    SUCCEEDED = "succeeded"
    DEAD = "dead"

    @property
    def finished(self) -> bool:
        return self in (DeliveryStatus.SUCCEEDED, DeliveryStatus.DEAD)


@dataclass(frozen=True)
class QueuedDelivery:
    id: str
    endpoint_id: str
    order_key: str
    seq: int
    status: DeliveryStatus
    due_at: datetime
    lease_expired: bool = False
    """A 'delivering' row whose worker's lease ran out (the worker died): it may be taken over."""

    @property
    def claimable(self) -> bool:
        return self.status is DeliveryStatus.PENDING or (
            self.status is DeliveryStatus.DELIVERING and self.lease_expired
        )


def heads(queue: Iterable[QueuedDelivery]) -> list[QueuedDelivery]:
    """The earliest unfinished delivery of each (endpoint, order key) group."""
    first: dict[tuple[str, str], QueuedDelivery] = {}
    for item in queue:
        if item.status.finished:
            continue
        key = (item.endpoint_id, item.order_key)
        if key not in first or item.seq < first[key].seq:
            first[key] = item
    return list(first.values())


def ready(queue: Iterable[QueuedDelivery], now: datetime) -> list[QueuedDelivery]:
    """Group heads that may be claimed at `now`, oldest due first."""
    return sorted(
        (h for h in heads(queue) if h.claimable and h.due_at <= now), key=lambda d: (d.due_at, d.seq)
    )


def choose(
    candidates: Iterable[QueuedDelivery], capacity: Mapping[str, int], limit: int
) -> list[QueuedDelivery]:
    """Up to `limit` candidates, at most `capacity[endpoint]` per endpoint, endpoints taking turns."""
    per_endpoint: dict[str, list[QueuedDelivery]] = defaultdict(list)
    for item in sorted(candidates, key=lambda d: (d.due_at, d.seq)):
        per_endpoint[item.endpoint_id].append(item)
    room = {endpoint: max(0, capacity.get(endpoint, 0)) for endpoint in per_endpoint}
    chosen: list[QueuedDelivery] = []
    while len(chosen) < limit:
        progressed = False
        for endpoint, items in per_endpoint.items():
            if len(chosen) >= limit:
                break
            if items and room[endpoint] > 0:
                chosen.append(items.pop(0))
                room[endpoint] -= 1
                progressed = True
        if not progressed:
            break
    return chosen


def ordering_key(data: Mapping[str, object], fallback: str) -> str:
    """What a delivery's order is kept within: the order, else the ticket, else the survey."""
    for field in ("order_id", "ticket_id", "survey_id"):
        value = data.get(field)
        if isinstance(value, str) and value:
            return f"{field.removesuffix('_id')}:{value}"
    return f"event:{fallback}"
