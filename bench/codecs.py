"""Which compression CareLoop's own producers use: the same realistic order events sent by an
idempotent producer configured as the runtime's (acks=all, the relay's batch size and linger) with each
codec Kafka knows, measuring this process's CPU per record and the bytes Kafka stored.

    .venv/bin/python -m bench.codecs --events 20000

The result is recorded in docs/benchmarks.md ("Compression"); runtime/kafka.py uses the chosen codec.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.common import ROOT, cleanup, isolated_settings, own_cpu_seconds
from bench.ingest import base_journeys, copy_event
from runtime.provision import ensure_topics
from runtime.settings import Settings
from schemas import topics

CODECS = (None, "gzip", "snappy", "lz4", "zstd")


def stored_bytes(topic: str) -> int | None:
    """Bytes of the topic's segments in the local broker's log directory (`make infra`'s Kafka), or
    None when the broker is elsewhere."""
    data = ROOT / ".local" / "kafka" / "data"
    if not data.is_dir():
        return None
    return sum(f.stat().st_size for d in data.glob(f"{topic}-*") for f in d.glob("*.log"))


async def send_all(
    settings: Settings, codec: str | None, records: list[tuple[bytes, bytes]]
) -> dict[str, Any]:
    topic = settings.topic(topics.ORDERS.name)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
        compression_type=codec,
    )
    await producer.start()
    try:
        cpu, wall = own_cpu_seconds(), time.perf_counter()
        pending = [await producer.send(topic, value, key=key) for value, key in records]
        await asyncio.gather(*pending)
        cpu, wall = own_cpu_seconds() - cpu, time.perf_counter() - wall
    finally:
        await producer.stop()
    return {
        "codec": codec or "none",
        "records": len(records),
        "cpu_us_per_record": round(cpu / len(records) * 1e6, 1),
        "records_per_s": round(len(records) / wall),
        "stored_bytes": stored_bytes(topic),
    }


async def run(events: int) -> list[dict[str, Any]]:
    day = base_journeys(400)
    records = [copy_event(day[n % len(day)][1], n // len(day) * 1_000_000) for n in range(events)]
    results = []
    for codec in CODECS:
        settings = isolated_settings("codec")
        await ensure_topics(settings.kafka_bootstrap_servers, settings.topic_prefix)
        try:
            results.append(await send_all(settings, codec, records))
        finally:
            await cleanup(settings, ())
    raw = sum(len(value) for value, _ in records)
    for result in results:
        result["raw_value_bytes"] = raw
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    for result in asyncio.run(run(args.events)):
        print(json.dumps(result))


if __name__ == "__main__":
    main()
