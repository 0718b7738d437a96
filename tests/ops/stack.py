"""The four services as real processes (`python -m services.<name>`, as deployed), each on a free
loopback port, configured for an isolated run only through environment variables."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from runtime.provision import ensure_service_schema
from runtime.settings import Settings
from services import SERVICE_NAMES
from tests.ops.support import REPO
from tests.support.net import free_port


@dataclass(frozen=True)
class ServiceProcess:
    name: str
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def service_env(settings: Settings, name: str, port: int, extra: dict[str, str]) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("CARELOOP_", "NOTIFY_", "SURVEY_"))}
    return {
        **inherited,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DATABASE_URL": settings.database_url.get_secret_value(),
        "CARELOOP_TOPIC_PREFIX": settings.topic_prefix,
        "CARELOOP_SCHEMA_PREFIX": settings.schema_prefix,
        "CARELOOP_SHOPS_FILE": str(settings.shops_file),
        "CARELOOP_HTTP_HOST": "127.0.0.1",
        "CARELOOP_HTTP_PORT": str(port),
        "CARELOOP_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@asynccontextmanager
async def running_stack(
    settings: Settings, extra_env: dict[str, str] | None = None
) -> AsyncIterator[dict[str, ServiceProcess]]:
    """Start every service, wait until each answers /health/ready, stop them all (SIGTERM) afterwards."""
    with tempfile.TemporaryDirectory(prefix="careloop-stack-") as tmp:
        services: dict[str, ServiceProcess] = {}
        processes: list[asyncio.subprocess.Process] = []
        logs = []
        try:
            for name in SERVICE_NAMES:
                await ensure_service_schema(settings.for_service(name))
                service = ServiceProcess(name, free_port(), Path(tmp) / f"{name}.log")
                log = service.log.open("wb")
                logs.append(log)
                processes.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        f"services.{name}",
                        cwd=REPO,
                        env=service_env(settings, name, service.port, extra_env or {}),
                        stdout=log,
                        stderr=log,
                    )
                )
                services[name] = service
            await _wait_ready(services, processes)
            yield services
        finally:
            for process in processes:
                if process.returncode is None:
                    process.terminate()
            for process in processes:
                try:
                    await asyncio.wait_for(process.wait(), 30)
                except TimeoutError:
                    process.kill()
                    await process.wait()
            for log in logs:
                log.close()


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:]


async def _wait_ready(
    services: dict[str, ServiceProcess], processes: list[asyncio.subprocess.Process], timeout: float = 120.0
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        for service, process in zip(services.values(), processes, strict=True):
            while True:
                if process.returncode is not None:
                    raise AssertionError(f"{service.name} exited {process.returncode}:\n{tail(service.log)}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{service.url}/health/ready")).status_code == 200:
                        break
                if loop.time() > deadline:
                    raise AssertionError(f"{service.name} not ready in {timeout} s:\n{tail(service.log)}")
                await asyncio.sleep(0.3)
