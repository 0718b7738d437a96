"""The whole CareLoop as `make run` starts it (`python -m tools.stack run`: bootstrap, then the four
services under the supervisor), with the demo shop's registry, on four consecutive free ports of its
own (CARELOOP_PORT_BASE) and in the test's own topics and schemas."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from demo.run import LOCAL_ADMIN_TOKEN
from runtime.settings import Settings
from services import SERVICE_PORTS
from tests.ops.support import REPO

DEMO_SHOPS = REPO / "deploy" / "local" / "shops.json"
DEMO_KEY = "clk_demo_shop_local_key_do_not_use_in_production"


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_base(tries: int = 200) -> int:
    """A base whose base+1 … base+4 nobody listens on right now."""
    offsets = [port - 8000 for port in SERVICE_PORTS.values()]
    for _ in range(tries):
        base = random.randrange(20000, 60000, 10)
        if all(_free(base + offset) for offset in offsets):
            return base
    raise AssertionError("no four free consecutive loopback ports")


def stack_env(settings: Settings, port_base: int) -> dict[str, str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CARELOOP_", "NOTIFY_", "SURVEY_", "SLA_", "INTAKE_", "DEMO_"))
    }
    return {
        **inherited,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DATABASE_URL": settings.database_url.get_secret_value(),
        "CARELOOP_TOPIC_PREFIX": settings.topic_prefix,
        "CARELOOP_SCHEMA_PREFIX": settings.schema_prefix,
        "CARELOOP_SHOPS_FILE": str(DEMO_SHOPS),
        "CARELOOP_ADMIN_TOKEN": LOCAL_ADMIN_TOKEN,  # as `make run` sets it
        "CARELOOP_PORT_BASE": str(port_base),
        "CARELOOP_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


@asynccontextmanager
async def running_careloop(settings: Settings, timeout: float = 150.0) -> AsyncIterator[dict[str, int]]:
    """Yields each service's port once all four answer /health/ready; stops the supervisor (SIGTERM,
    which stops its children) afterwards."""
    base = free_port_base()
    ports = {name: base + port - 8000 for name, port in SERVICE_PORTS.items()}
    with tempfile.TemporaryDirectory(prefix="careloop-docs-") as tmp:
        log_path = Path(tmp) / "stack.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tools.stack",
                "run",
                cwd=REPO,
                env=stack_env(settings, base),
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
            try:
                await _wait_ready(process, ports, log_path, timeout)
                yield ports
            finally:
                await _stop(process)


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:]


async def _wait_ready(
    process: asyncio.subprocess.Process, ports: dict[str, int], log: Path, timeout: float
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        for name, port in ports.items():
            while True:
                if process.returncode is not None:
                    raise AssertionError(f"the stack exited {process.returncode}:\n{_tail(log)}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"http://127.0.0.1:{port}/health/ready")).status_code == 200:
                        break
                if loop.time() > deadline:
                    raise AssertionError(f"{name} not ready within {timeout} s:\n{_tail(log)}")
                await asyncio.sleep(0.5)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 90)
    except TimeoutError:
        process.kill()  # its children get SIGTERM from the kernel (parent-death signal)
        await process.wait()
