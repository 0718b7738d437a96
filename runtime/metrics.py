"""The process-wide Prometheus registry, the FastStream Kafka middleware bound to it, and counting
only what committed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache

from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@cache
def kafka_middleware(app_name: str) -> KafkaPrometheusMiddleware:
    # One instance per process: its collectors can be registered only once per registry.
    return KafkaPrometheusMiddleware(
        registry=REGISTRY, app_name=app_name, metrics_prefix="careloop_faststream"
    )


def render(registry: CollectorRegistry = REGISTRY) -> bytes:
    return generate_latest(registry)


Update = Callable[[], None]
"""A metric update to make later, e.g. `COUNTER.labels(...).inc`."""

_pending: ContextVar[list[Update] | None] = ContextVar("careloop_pending_metrics", default=None)


def on_commit(update: Update) -> None:
    """Count an effect only once its transaction is through: a rolled-back ticket is no ticket, and a
    batch redone event by event must not count its first pass. Outside any `counted_on_commit` scope
    the update is made at once."""
    pending = _pending.get()
    if pending is None:
        update()
    else:
        pending.append(update)


@contextmanager
def counted_on_commit() -> Iterator[None]:
    """A scope (wrapped around a transaction or a savepoint) whose updates are made if it exits
    without an exception and dropped if one escapes. Nested in another scope its updates pass to
    that one, so they still wait for the outermost commit."""
    outer = _pending.get()
    pending: list[Update] = []
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)
    if outer is not None:
        outer.extend(pending)
        return
    for update in pending:
        update()


# -- the shop label and its budget ----------------------------------------------------------------

OTHER_SHOPS = "(other)"
"""The `shop` label of every shop past the budget. No shop id can be this (runtime.shops.Shop allows no
parentheses), so it never merges with a real shop's series."""


class ShopLabels:
    """The value of the `shop` label of a shop's series, within a cardinality budget of `limit` shops.

    The shops of the registry take the places first, in the registry file's order (the same on every
    replica, and an operator over the budget lists the shops that matter most first); a shop not in it
    takes a free place if one is left, first come. Every shop without a place is labelled OTHER_SHOPS;
    `limit` 0 labels every shop so, dropping the per-shop split. A shop's label never changes while the
    process runs: no series is split in two."""

    def __init__(self, limit: int, shops: Iterable[str] = ()) -> None:
        if limit < 0:
            raise ValueError("the shop label limit cannot be negative")
        self.limit = limit
        self._placed: set[str] = set()
        for shop_id in shops:
            if len(self._placed) >= limit:
                break
            self._placed.add(shop_id)

    def __call__(self, shop_id: str) -> str:
        if shop_id in self._placed:
            return shop_id
        if len(self._placed) < self.limit:
            self._placed.add(shop_id)
            return shop_id
        return OTHER_SHOPS


DEFAULT_SHOP_LABEL_LIMIT = 1000
_shop_labels = ShopLabels(DEFAULT_SHOP_LABEL_LIMIT)


def configure_shop_labels(limit: int, shops: Iterable[str]) -> None:
    """Set the process's budget (CARELOOP_METRICS_SHOP_LABEL_LIMIT) and its registry; done by the
    service runtime at start-up, before any series is labelled."""
    global _shop_labels
    _shop_labels = ShopLabels(limit, shops)


def shop_label(shop_id: str) -> str:
    """The `shop` label of `shop_id`'s series in this process (ShopLabels)."""
    return _shop_labels(shop_id)
