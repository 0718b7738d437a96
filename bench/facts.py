"""The facts every report starts with: the machine, the versions of what ran and the git commit."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import ROOT, service_checkout, services_elsewhere
from runtime.settings import Settings

KEY_PACKAGES = (
    "faststream",
    "aiokafka",
    "asyncpg",
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "httpx",
    "prometheus-client",
)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kib = None
    with contextlib.suppress(OSError):
        match = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
        memory_kib = int(match.group(1)) if match else None
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1) if memory_kib else None,
        "kernel": platform.release(),
        "os": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def kafka_version() -> str | None:
    for jar in sorted((ROOT / ".local" / "kafka" / "jars").glob("kafka_*.jar")):
        match = re.fullmatch(r"kafka_[\d.]+-([\d.]+)\.jar", jar.name)
        if match:
            return match.group(1)
    return None


async def postgres_version(settings: Settings) -> str | None:
    with contextlib.suppress(Exception):
        conn = await asyncpg.connect(settings.database_url.get_secret_value(), timeout=10)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()
    return None


async def versions(settings: Settings) -> dict[str, Any]:
    packages: dict[str, str | None] = {}
    for name in KEY_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "python": platform.python_version(),
        "kafka": kafka_version(),
        "postgres": await postgres_version(settings),
        "packages": packages,
    }


def git_commit() -> dict[str, Any]:
    """The commit of the harness and, if the services ran from another checkout, that one's too."""

    def git(where: Path, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=where, capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()

    def described(where: Path) -> dict[str, Any]:
        return {
            "commit": git(where, "rev-parse", "HEAD") or None,
            "subject": git(where, "log", "-1", "--format=%s") or None,
            "dirty_paths": len(git(where, "status", "--porcelain").splitlines()),
        }

    found = described(ROOT)
    if services_elsewhere():
        services = service_checkout()
        found["services"] = {"checkout": str(services), **described(services)}
    return found
