"""wrk's signed mode (bench/lua/load.lua) as a real process on loopback, no Kafka or Postgres: it sends
each line of the run's delivery file once, to the Shopify adapter's path with Shopify's headers, and
every request carries a signature the adapter's own verification accepts for its exact body."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import DEMO_SHOP
from bench.shopify_orders import Deliveries
from bench.wrk import Load, drive
from services.intake.domain.platforms.signatures import verify

ANSWER = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 21\r\n\r\n{"outcome":"applied"}'
)


@dataclass
class Seen:
    """Requests as they arrived: request line, lower-cased headers, raw body."""

    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    delay: float = 0.005
    """Per answer: keeps the rate (8 connections) under what a run's file holds."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                first, *lines = head.split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines if x)}
                body = await reader.readexactly(int(headers["content-length"]))
                self.requests.append((first, headers, body))
                await asyncio.sleep(self.delay)
                writer.write(ANSWER)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


async def signed_load(tmp_path: Path, per_second: float, slack: int) -> tuple[dict[str, Any], Seen, str]:
    seen = Seen()
    server = await asyncio.start_server(seen.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    deliveries = Deliveries(tmp_path, per_second, slack=slack)
    try:
        result = await drive(
            f"http://127.0.0.1:{port}",
            os.getpid(),
            Load("signed", 8, 1.0, threads=2, warmup=1.0, deliveries=deliveries),
        )
    finally:
        server.close()
        await server.wait_closed()
    return result, seen, deliveries.secret


async def test_every_request_is_a_new_signed_orders_create_on_the_adapter_s_path(tmp_path: Path) -> None:
    result, seen, secret = await signed_load(tmp_path, per_second=3000, slack=64)
    assert result["requests"] > 100
    assert result["ok"] == result["requests"]
    assert result["errors"] == 0
    assert result["wrapped"] == 0
    # the warm-up's and the measured run's, and those in flight when wrk stopped
    assert len(seen.requests) >= result["requests"]
    event_ids, orders = set(), set()
    for first, headers, body in seen.requests:
        assert first == f"POST /v1/platforms/shopify/{DEMO_SHOP} HTTP/1.1"
        assert headers["x-shopify-topic"] == "orders/create"
        assert headers["content-type"] == "application/json"
        assert verify(body, headers["x-shopify-hmac-sha256"], [secret])
        assert headers["x-shopify-triggered-at"]
        event_ids.add(headers["x-shopify-event-id"])
        orders.add(json.loads(body)["id"])
    assert len(event_ids) == len(seen.requests)
    assert len(orders) == len(seen.requests)


async def test_a_file_shorter_than_the_run_is_walked_again_and_says_so(tmp_path: Path) -> None:
    result, seen, secret = await signed_load(tmp_path, per_second=10, slack=0)
    assert result["wrapped"] > 0
    assert len(seen.requests) > 20
    # two files of ten (warm-up and measured run), each line sent again after the end
    assert len({headers["x-shopify-event-id"] for _, headers, _ in seen.requests}) == 20
    assert all(verify(body, headers["x-shopify-hmac-sha256"], [secret]) for _, headers, body in seen.requests)
