"""What every benchmark scenario shares: isolated infrastructure, service subprocesses with their peak
memory and CPU, statistics and the machine/version facts of the report (HTTP load: bench/wrk.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from runtime.provision import delete_topics, drop_service_schema, ensure_service_schema, ensure_topics
from runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SHOPS_FILE = ROOT / "deploy" / "local" / "shops.json"
DEMO_SHOP = "demo-shop"
DEMO_KEY = "clk_demo_shop_local_key_do_not_use_in_production"  # deploy/local/shops.json, local only
SERVICES = ("intake", "sla", "notify", "survey")


# -- statistics ------------------------------------------------------------------------------------
def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of an already sorted list (nan when empty)."""
    if not sorted_values:
        return float("nan")
    rank = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values)) - 1))
    return sorted_values[rank]


def summarize(values: list[float]) -> dict[str, Any]:
    """min/median/max over repeated runs; `n` says how many runs the figure rests on."""
    kept = [v for v in values if v == v]  # drop nan: a run that produced no sample
    if not kept:
        return {"n": 0, "min": None, "median": None, "max": None, "runs": values}
    return {
        "n": len(kept),
        "min": round(min(kept), 3),
        "median": round(statistics.median(kept), 3),
        "max": round(max(kept), 3),
        "runs": [round(v, 3) for v in kept],
    }


def latency_ms(sorted_seconds: list[float]) -> dict[str, float | None]:
    ms = 1000.0
    return {
        "p50": round(percentile(sorted_seconds, 0.50) * ms, 2) if sorted_seconds else None,
        "p95": round(percentile(sorted_seconds, 0.95) * ms, 2) if sorted_seconds else None,
        "p99": round(percentile(sorted_seconds, 0.99) * ms, 2) if sorted_seconds else None,
        "max": round(sorted_seconds[-1] * ms, 2) if sorted_seconds else None,
    }


# -- isolated infrastructure -----------------------------------------------------------------------
def services_shops_file() -> Path:
    """The demo shops as the services' checkout spells them (the same shops and keys in every commit)."""
    return service_checkout() / "deploy" / "local" / "shops.json"


def isolated_settings(label: str) -> Settings:
    """Settings of one benchmark run: its own topic and schema prefix, the local demo shops."""
    tag = f"b{label}{uuid.uuid4().hex[:8]}"
    return Settings().model_copy(
        update={"topic_prefix": f"{tag}.", "schema_prefix": f"{tag}_", "shops_file": services_shops_file()}
    )


async def provision(settings: Settings, services: tuple[str, ...]) -> None:
    await ensure_topics(settings.kafka_bootstrap_servers, settings.topic_prefix)
    for name in services:
        await ensure_service_schema(settings.for_service(name))


async def cleanup(settings: Settings, services: tuple[str, ...]) -> None:
    """Remove the run's topics, schemas and roles; never fails the report over a leftover."""
    for name in services:
        with contextlib.suppress(Exception):
            await drop_service_schema(settings.for_service(name))
    with contextlib.suppress(Exception):
        await delete_topics(settings.kafka_bootstrap_servers, settings.topic_prefix)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- processes and their memory --------------------------------------------------------------------
def status_kib(pid: int, field_name: str) -> int | None:
    """A `kB` field of /proc/<pid>/status (VmHWM = peak resident set), None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field_name}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def command_of(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def own_cpu_seconds() -> float:
    """CPU (user + system) this process has used."""
    times = os.times()
    return times.user + times.system


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class PeakMemory:
    """Peak RSS (VmHWM) per watched process, kept after the process has exited."""

    peaks_kib: dict[str, int] = field(default_factory=dict)

    def note(self, label: str, pid: int) -> None:
        hwm = status_kib(pid, "VmHWM")
        if hwm is not None:
            self.peaks_kib[label] = max(self.peaks_kib.get(label, 0), hwm)


def service_label(pid: int) -> str | None:
    """`services.<name>` in a process's command line names the service it runs."""
    for arg in command_of(pid):
        if arg.startswith("services.") and arg.split(".")[1] in SERVICES:
            return arg.split(".")[1]
    return None


async def watch_tree(pid: int, label: str, memory: PeakMemory, stop: asyncio.Event) -> None:
    """Sample VmHWM of `pid` and of any service process it started, until `stop` is set.
    VmHWM only grows, so the last sample before exit is the peak up to one interval's growth."""
    while not stop.is_set():
        memory.note(label, pid)
        for child in children_of(pid):
            service = service_label(child)
            if service is not None:
                memory.note(f"{service} (via {label})", child)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


class MissingScript(RuntimeError):
    """A scenario's script is absent or failed: its figures are reported missing, not invented."""


@dataclass
class ScriptResult:
    document: dict[str, Any] | None
    error: str | None
    seconds: float


async def run_json_script(
    argv: list[str], timeout: float, memory: PeakMemory, label: str, env: dict[str, str] | None = None
) -> ScriptResult:
    """Run `python -m <module> ...`, parse its JSON stdout; a crash, a timeout or bad JSON is an error
    with its stderr tail (reported as a missing figure, never as a number)."""
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *argv,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_tree(process.pid, label, memory, stop))
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        await terminate(process)
        return ScriptResult(None, f"timed out after {timeout:.0f}s", time.monotonic() - started)
    finally:
        stop.set()
        await watcher
    elapsed = time.monotonic() - started
    tail = stderr.decode(errors="replace").strip().splitlines()[-5:]
    if process.returncode != 0:
        return ScriptResult(None, f"exit {process.returncode}: {' | '.join(tail)}", elapsed)
    document = last_json_object(stdout.decode(errors="replace"))
    if document is None:
        return ScriptResult(None, f"no JSON object at the end of stdout: {' | '.join(tail)}", elapsed)
    return ScriptResult(document, None, elapsed)


def last_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object that ends a script's stdout; some scripts' frameworks log to stdout before it."""
    starts = [m.start() for m in re.finditer(r"^\{", text, re.MULTILINE)]
    for start in reversed(starts):
        try:
            document = json.loads(text[start:])
        except json.JSONDecodeError:
            continue
        return document if isinstance(document, dict) else None
    return None


async def terminate(process: asyncio.subprocess.Process, grace: float = 20.0) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def service_env(settings: Settings, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DATABASE_URL": settings.database_url.get_secret_value(),
        "CARELOOP_TOPIC_PREFIX": settings.topic_prefix,
        "CARELOOP_SCHEMA_PREFIX": settings.schema_prefix,
        "CARELOOP_SHOPS_FILE": str(settings.shops_file),
        "CARELOOP_HTTP_PORT": str(port),
        "CARELOOP_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "CARELOOP_LOG_LEVEL": "WARNING",
    }


def service_checkout() -> Path:
    """Where the services are started from: this checkout, or the one `CARELOOP_BENCH_CHECKOUT` names
    (e.g. a `git worktree` of an earlier commit), so a change is measured before and after by the
    same harness on the same machine."""
    return Path(os.environ.get("CARELOOP_BENCH_CHECKOUT") or ROOT)


def services_elsewhere() -> bool:
    """Whether the services run from another checkout than the harness's own."""
    return service_checkout().resolve() != ROOT.resolve()


class ServiceProcess:
    """`python -m services.<name>` (or any module) on a loopback port, as an operator would run it."""

    def __init__(
        self,
        module: str,
        env: dict[str, str],
        port: int,
        memory: PeakMemory,
        label: str,
        args: tuple[str, ...] = (),
    ) -> None:
        self.module = module
        self.args = args
        self.env = env
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.memory = memory
        self.label = label
        self.process: asyncio.subprocess.Process | None = None
        self._stop = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    async def start(self, ready_path: str = "/health/ready", timeout: float = 90.0) -> None:
        # stderr goes to a file, read only to explain a failed start (a pipe nobody drains could block)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self.module,
            *self.args,
            cwd=service_checkout() if self.module.startswith("services.") else ROOT,
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self._stderr,
        )
        self._watcher = asyncio.create_task(self._watch())
        try:
            await self._wait_ready(ready_path, timeout)
        except BaseException:
            await self.stop()
            raise

    async def _wait_ready(self, ready_path: str, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise RuntimeError(
                        f"{self.module} exited with {self.process.returncode} at start-up: "
                        + self._stderr_tail()
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.base + ready_path)).status_code == 200:
                        return
                await asyncio.sleep(0.25)
        raise RuntimeError(f"{self.module} not ready within {timeout:.0f}s: {self._stderr_tail()}")

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return " | ".join(lines[-3:])

    async def _watch(self) -> None:
        assert self.process is not None
        pid = self.process.pid
        while not self._stop.is_set():
            self.memory.note(self.label, pid)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.5)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def stop(self) -> None:
        if self.process is None:
            return
        self.memory.note(self.label, self.process.pid)
        self._stop.set()
        if self._watcher is not None:
            await self._watcher
        await terminate(self.process)
        self._stderr.close()


# -- the webhook scenarios' load (bench/webhooks.py and the pipeline ceiling; receiver: bench/receiver.py)
async def publish_at_rate(
    bootstrap: str, topic: str, count: int, rate: float, make: Callable[[int], tuple[bytes, bytes]]
) -> tuple[float, float]:
    """Send `count` records, `make(i)` -> (key, value), at `rate` per second on schedule, not waiting
    for each acknowledgement; returns the monotonic (start, end). An event built by `make` is stamped
    when it is built, so its latency starts when it is due, not when the load was planned."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    pending = []
    try:
        started = time.monotonic()
        for i in range(count):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            key, value = make(i)
            pending.append(await producer.send(topic, value, key=key))
        await asyncio.gather(*pending)
        return started, time.monotonic()
    finally:
        await producer.stop()
