"""Webhook throughput with one or more notify processes in one consumer group.

    .venv/bin/python -m bench.scale_out --instances 2 --events 40000 --rate 4000

Starts `--instances` processes of `python -m services.notify` (as an operator runs them) on one topic
and schema prefix (removed afterwards), waits until every one of them is a member of the orders
consumer group, creates one endpoint pointing at the compiled receiver (bench/receiver.py), then
publishes order events at `--rate` from this process (bench/webhooks.py's events). Each process has
`--in-flight` attempts per endpoint of its own, as a scaled-out deployment would. Throughput is
deliveries over first publish -> last delivery; each process's consumed events, successful attempts
and CPU show that both worked. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from bench.common import (
    DEMO_KEY,
    PeakMemory,
    ServiceProcess,
    cleanup,
    cpu_seconds,
    free_port,
    isolated_settings,
    provision,
    publish_at_rate,
    service_env,
)
from bench.receiver import CompiledReceiver
from bench.webhooks import STEPS, order_event
from runtime.settings import Settings
from schemas import topics
from schemas.registry import encode_event

ORDERS_CONSUMER = "notify-orders"
"""notify's consumer of orders.events (services/notify/bootstrap.py)."""


def group_members(groups: Sequence[Sequence[Any]], group: str) -> tuple[str, int]:
    """(state, members) of `group` in a DescribeGroups response's groups: tuples that start
    (error_code, group, state, protocol_type, protocol, members); ("", 0) when it is not there."""
    for described in groups:
        if described[1] == group:
            return str(described[2]), len(described[5])
    return "", 0


async def wait_for_group(bootstrap: str, group: str, members: int, timeout: float) -> float:
    """Wait until the group is Stable with `members` members (its partitions handed out); returns the
    seconds it took."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    started = time.monotonic()
    try:
        while True:
            responses = await admin.describe_consumer_groups([group])
            state, seen = group_members([g for r in responses for g in r.groups], group)
            if state == "Stable" and seen == members:
                return round(time.monotonic() - started, 1)
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"group {group} is {state or 'absent'} with {seen} of {members} members")
            await asyncio.sleep(0.25)
    finally:
        await admin.close()


def counter(text: str, name: str, **labels: str) -> float:
    """Sum of a counter's samples in a /metrics text whose labels include `labels`."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


async def instance_figures(process: ServiceProcess, cpu_before: float) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        text = (await client.get(process.base + "/metrics")).text
    return {
        "consumed_order_events": counter(text, "careloop_events_consumed_total", consumer=ORDERS_CONSUMER),
        "successful_attempts": counter(text, "careloop_notify_attempts_total", outcome="success"),
        "cpu_seconds": round(cpu_seconds(process.pid) - cpu_before, 2),
    }


def notify_env(settings: Settings, port: int, in_flight: int) -> dict[str, str]:
    return {
        **service_env(settings, port),
        "NOTIFY_ALLOW_LOOPBACK": "true",  # the receiver listens on 127.0.0.1
        "NOTIFY_MAX_IN_FLIGHT_PER_ENDPOINT": str(in_flight),
        "NOTIFY_MAX_IN_FLIGHT_TOTAL": str(in_flight),
    }


async def start_instances(settings: Settings, count: int, in_flight: int) -> list[ServiceProcess]:
    """One after the other: the first migrates the schema before the next starts."""
    memory = PeakMemory()
    started: list[ServiceProcess] = []
    try:
        for k in range(count):
            port = free_port()
            process = ServiceProcess(
                "services.notify",
                notify_env(settings, port, in_flight),
                port,
                memory,
                f"notify (scale {k + 1} of {count})",
            )
            await process.start()
            started.append(process)
    except BaseException:
        for process in started:
            await process.stop()
        raise
    return started


async def run(instances: int, events: int, rate: float, timeout: float, in_flight: int) -> dict[str, Any]:
    settings = isolated_settings("scale")
    service = settings.for_service("notify")
    await provision(settings, ("notify",))
    receiver = CompiledReceiver(events, "timestamp")
    processes: list[ServiceProcess] = []
    orders = max(1, events // len(STEPS))

    def record(i: int) -> tuple[bytes, bytes]:
        event = order_event(i, orders)
        return event.subject.encode(), encode_event(event)

    try:
        await receiver.start()
        processes = await start_instances(service, instances, in_flight)
        joined = await wait_for_group(
            settings.kafka_bootstrap_servers, f"{service.consumer_group}.{ORDERS_CONSUMER}", instances, 90.0
        )
        async with httpx.AsyncClient(base_url=processes[0].base, timeout=10.0) as client:
            created = await client.post(
                "/v1/endpoints",
                json={"url": receiver.url, "event_types": ["order.*"]},
                headers={"Authorization": f"Bearer {DEMO_KEY}"},
            )
            created.raise_for_status()
        cpu_before = [cpu_seconds(p.pid) for p in processes]
        receiver.mark()
        wall_start = time.time()
        started, published = await publish_at_rate(
            settings.kafka_bootstrap_servers, settings.topic(topics.ORDERS.name), events, rate, record
        )
        await receiver.wait_all(timeout)
        per_instance = [await instance_figures(p, c) for p, c in zip(processes, cpu_before, strict=True)]
    finally:
        for process in processes:
            await process.stop()
        await receiver.stop()
        await cleanup(settings, ("notify",))
    return {
        "benchmark": "scale_out",
        "instances": instances,
        "seconds_to_join_the_group": joined,
        **receiver.delivery_figures(events, rate, started, published, wall_start),
        "per_instance": per_instance,
        "max_in_flight_per_instance": in_flight,
        "note": "notify processes of their own; the Kafka producer is this process, the receiver compiled",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=4000.0, help="offered events per second")
    parser.add_argument("--timeout", type=float, default=120.0, help="max seconds to wait for deliveries")
    parser.add_argument("--in-flight", type=int, default=32, help="concurrent attempts per process")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    result = asyncio.run(run(args.instances, args.events, args.rate, args.timeout, args.in_flight))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
