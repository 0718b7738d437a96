"""`python -m demo.run` (what `make run` starts) as a real process tree: the four services and the demo
start on free ports, the live summary shows real traffic, and SIGINT stops everything cleanly with no
process left behind."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from runtime.settings import Settings
from tests.demo.runs import REPO, free_port_base, port_in_use, processes_tagged
from tests.support.net import free_port
from tests.support.shops import KEY_A, SHOP_A
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(150)]


async def test_make_run_starts_the_demo_and_stops_cleanly_on_sigint(infra: Settings, tmp_path: Path) -> None:
    base, prometheus_port = free_port_base(), free_port()
    tag = f"CARELOOP_TOPIC_PREFIX={infra.topic_prefix}"
    env = {
        **os.environ,
        "CARELOOP_TOPIC_PREFIX": infra.topic_prefix,
        "CARELOOP_SCHEMA_PREFIX": infra.schema_prefix,
        "CARELOOP_SHOPS_FILE": str(infra.shops_file),
        "CARELOOP_PORT_BASE": str(base),
        "DEMO_SPEED": "3600",
        "DEMO_SHOP_ID": SHOP_A,
        "DEMO_API_KEY": KEY_A,
        "DEMO_RECEIVER_PORT": str(free_port()),
        "DEMO_PROMETHEUS_PORT": str(prometheus_port),
        "DEMO_ORDERS_PER_DAY": "20",
        "DEMO_SUMMARY_SECONDS": "1",
        "DEMO_SERVICE_LOGS": str(tmp_path / "logs"),
        # the demo quiets services to warnings; INFO here lets the test see each one shut down cleanly
        "CARELOOP_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "demo.run",
        cwd=tmp_path,  # .local/demo-prometheus lands here, not in the shared checkout
        env={**env, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output: list[str] = []

    async def read_all() -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            output.append(line.decode(errors="replace"))

    reader = asyncio.create_task(read_all())

    async def summary_with_traffic() -> bool:
        if process.returncode is not None:
            raise AssertionError("demo.run exited early:\n" + "".join(output[-60:]))
        return _has_traffic(output)

    async def prometheus_scrapes_every_service() -> bool:
        try:
            async with httpx.AsyncClient() as http:
                body = (await http.get(f"http://127.0.0.1:{prometheus_port}/api/v1/targets")).json()
        except httpx.HTTPError:
            return False
        up = {t["labels"].get("app") for t in body["data"]["activeTargets"] if t["health"] == "up"}
        return {"intake", "sla", "notify", "survey", "demo"} <= up

    try:
        await eventually(summary_with_traffic, timeout=90, interval=0.5)
        text = "".join(output)
        assert "careloop: all services ready" in text
        assert f"http://127.0.0.1:{base + 1}" in text
        assert f"prometheus http://127.0.0.1:{prometheus_port}" in text
        await eventually(prometheus_scrapes_every_service, timeout=30, interval=1)
        assert len(processes_tagged(tag)) >= 6  # the stack, four services, Prometheus, the demo
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), 60)
        await asyncio.wait_for(reader, 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        reader.cancel()
    assert process.returncode == 0, "".join(output[-40:])
    assert "careloop: stopping" in "".join(output)
    assert processes_tagged(tag) == []
    assert not any(port_in_use(p) for p in (*range(base + 1, base + 5), prometheus_port))
    # The services wrote to their log files, leaving the terminal to the summary.
    for name in ("intake", "sla", "notify", "survey"):
        log = (tmp_path / "logs" / f"{name}.log").read_text()
        assert "FastStream app shut down" in log
    assert "FastStream app started" not in "".join(output)


def _has_traffic(lines: list[str]) -> bool:
    """The latest summary shows published orders and verified webhooks."""
    text = "".join(lines[-30:])
    block = text[text.rfind("CareLoop live demo") :]
    orders = _number_before(block, " created, ")
    verified = _number_before(block, " signatures verified")
    return orders > 0 and verified > 0


def _number_before(text: str, marker: str) -> int:
    at = text.find(marker)
    if at < 0:
        return 0
    digits = text[:at].split()[-1]
    return int(digits) if digits.isdigit() else 0
