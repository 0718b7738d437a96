"""The process-wide Prometheus registry, the FastStream Kafka middleware bound to it, and counting
only what committed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
