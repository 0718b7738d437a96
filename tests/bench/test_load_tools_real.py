"""The bench's load tools as real processes on loopback (no Kafka, no Postgres): the compiled webhook
receiver answers 204 on kept-alive connections and logs each request's arrival with the body's
top-level event time; wrk with bench/lua/load.lua sends a different contact in every request."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from bench.receiver import CompiledReceiver, build_receiver
from bench.wrk import Load, drive


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *parts: bytes) -> bytes:
    for part in parts:
        writer.write(part)
        await writer.drain()
        await asyncio.sleep(0.05)  # the receiver sees the request in pieces
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)


def request(body: bytes, webhook_id: str, extra: str = "") -> bytes:
    head = (
        f"POST /hook HTTP/1.1\r\nHost: x\r\nWebhook-Id: {webhook_id}\r\n"
        f"Content-Type: application/json\r\ncontent-length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


async def test_the_receiver_answers_204_and_logs_each_first_arrival_with_its_event_time() -> None:
    receiver = CompiledReceiver(expected=3, time_field="time")
    await receiver.start()
    before = time.time()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
        # a nested "time" comes first; the top-level one is the event's
        first = json.dumps({"data": {"time": "nested"}, "time": "2026-12-06T08:00:00Z"}).encode()
        whole = request(first, "msg_1")
        answer = await exchange(reader, writer, whole[:30], whole[30:-10], whole[-10:])
        assert answer == b"HTTP/1.1 204 No Content\r\n\r\n"
        second = b'{"time" : "2026-12-06T08:00:01.250Z", "x": [1, {"time": "n"}]}'
        answer = await exchange(reader, writer, request(second, "msg_2") + request(first, "msg_1"))
        assert answer.startswith(b"HTTP/1.1 204")
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)  # the pipelined one
        assert answer.startswith(b"HTTP/1.1 204")
        third = request(b'{"time":"2026-12-06T08:00:02Z"}', "msg_3", "Connection: close\r\n")
        assert (await exchange(reader, writer, third)).startswith(b"HTTP/1.1 204")
        assert await asyncio.wait_for(reader.read(), 5.0) == b""  # closed after answering
        writer.close()

        reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
        chunked = b"POST /hook HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        assert (await exchange(reader, writer, chunked)).startswith(b"HTTP/1.1 501")
        writer.close()

        assert await receiver.wait_all(5.0)
    finally:
        await receiver.stop()
    assert receiver.log.requests == 4
    assert set(receiver.first_seen) == {"msg_1", "msg_2", "msg_3"}
    arrived, event_time = receiver.first_seen["msg_2"]
    assert before <= arrived <= time.time()
    assert event_time == 1796544001.25
    figures = receiver.delivery_figures(3, 100.0, 0.0, 0.03, before)
    assert figures["delivered"] == 3
    assert figures["duplicate_requests"] == 1
    assert figures["receiver"]["cpu_seconds"] > 0


async def test_wrk_sends_a_different_contact_in_every_request(tmp_path: Path) -> None:
    # the receiver logs any top-level string field: here each body's message id
    log = tmp_path / "arrivals.log"
    binary = build_receiver()
    process = await asyncio.create_subprocess_exec(
        str(binary), "channel_message_id", str(log), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        port = int(await process.stdout.readline())
        result = await drive(
            f"http://127.0.0.1:{port}", process.pid, Load("contacts", 8, 1.0, threads=2, warmup=1.0)
        )
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0
    ids = [line.split(" ")[2] for line in log.read_text().splitlines()]
    assert result["requests"] > 100
    assert result["ok"] == result["requests"]
    assert result["errors"] == 0
    # warm-up and measured run, and each request in flight when wrk stopped, are all logged
    assert len(ids) >= result["requests"]
    assert all(i.startswith("bench-") for i in ids)
    assert len(set(ids)) == len(ids)
    assert result["generator"]["cpu_seconds"] > 0
    assert result["server"]["cpu_ms_per_request"] >= 0
    assert set(result["latency_ms"]) == {"p50", "p90", "p99", "max", "mean"}
