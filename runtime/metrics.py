"""The process-wide Prometheus registry and the FastStream Kafka middleware bound to it."""

from __future__ import annotations

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
