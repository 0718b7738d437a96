"""The soak's own infrastructure: a private Kafka broker and PostgreSQL cluster (the shared ones that
other people's tests use are never touched) and the four services as OS processes, each in its own
process group so a SIGKILL is a real crash and nothing outlives the soak."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.common import ROOT, SHOPS_FILE, free_port

Samples = dict[str, list[tuple[dict[str, str], float]]]
"""Sample name -> [(labels, value)] of one /metrics page."""

JARS = ROOT / ".local" / "kafka" / "jars"


async def _run_script(script: str, action: str, env: dict[str, str], log: Path, timeout: float) -> None:
    """deploy/local/<script> <action>, in a session of its own: a Ctrl-C on the terminal reaches the
    soak only, which then stops the broker and the cluster in order."""
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            "bash",
            str(ROOT / "deploy" / "local" / script),
            action,
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
        try:
            code = await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
            raise RuntimeError(
                f"{script} {action} did not finish within {timeout:.0f}s (see {log})"
            ) from None
    if code != 0:
        raise RuntimeError(f"{script} {action} failed with exit {code}: {_tail(log)}")


def _tail(log: Path) -> str:
    return " | ".join(log.read_text(errors="replace").strip().splitlines()[-5:])


class PrivateKafka:
    """deploy/local/kafka.sh under `home`, on free ports, with the checkout's jars linked in when they
    are there (else kafka.sh fetches its own)."""

    def __init__(self, home: Path, log: Path) -> None:
        self.home = home
        self.log = log
        (home / "kafka").mkdir(parents=True, exist_ok=True)
        if (JARS / ".complete").exists():
            (home / "kafka" / "jars").symlink_to(JARS)
        self.port = free_port()
        self.env = {
            **os.environ,
            "CARELOOP_LOCAL_DIR": str(home),
            "CARELOOP_KAFKA_PORT": str(self.port),
            "CARELOOP_KAFKA_CONTROLLER_PORT": str(free_port()),
            "CARELOOP_KAFKA_HEAP": "-Xms256m -Xmx512m",
        }

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def server_log(self) -> Path:
        return self.home / "kafka" / "kafka.log"

    async def start(self) -> None:
        await _run_script("kafka.sh", "start", self.env, self.log, timeout=180)

    async def stop(self) -> None:
        await _run_script("kafka.sh", "stop", self.env, self.log, timeout=60)


class PrivatePostgres:
    """deploy/local/postgres.sh under `home` (world-traversable: as root the cluster runs as the
    'postgres' user), on a free port."""

    def __init__(self, home: Path, log: Path) -> None:
        self.home = home
        self.log = log
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o755)
        self.port = free_port()
        self.env = {**os.environ, "CARELOOP_LOCAL_DIR": str(home), "CARELOOP_PG_PORT": str(self.port)}

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def server_log(self) -> Path:
        return self.home / "pg" / "postgres.log"

    async def start(self) -> None:
        await _run_script("postgres.sh", "start", self.env, self.log, timeout=120)

    async def stop(self) -> None:
        await _run_script("postgres.sh", "stop", self.env, self.log, timeout=120)


def service_env(
    name: str, port: int, kafka: str, database_url: str, survey_url: str, extra: dict[str, str]
) -> dict[str, str]:
    """What `python -m services.<name>` needs to run on the private infrastructure. Every setting that
    could point elsewhere is set here, whatever the caller's environment says."""
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "DATABASE_URL": database_url,
        "CARELOOP_TOPIC_PREFIX": "",
        "CARELOOP_SCHEMA_PREFIX": "",
        "CARELOOP_SHOPS_FILE": str(SHOPS_FILE),
        "CARELOOP_HTTP_HOST": "127.0.0.1",
        "CARELOOP_HTTP_PORT": str(port),
        "CARELOOP_PUBLIC_BASE_URL": survey_url,
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


class Service:
    """One service process; it keeps its port over restarts, so links and subscriptions stay valid."""

    def __init__(self, name: str, port: int, log: Path, pid_file: Path) -> None:
        self.name = name
        self.port = port
        self.log = log
        self.pid_file = pid_file
        """Where its process group is noted, so a later soak can stop it if this one was killed."""
        self.env: dict[str, str] = {}
        self.process: asyncio.subprocess.Process | None = None
        self.lives = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, timeout: float = 120.0) -> None:
        assert not self.running, f"{self.name} is already running"
        with self.log.open("ab") as out:
            out.write(f"\n--- soak: life {self.lives + 1} of {self.name} ---\n".encode())
            out.flush()
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                f"services.{self.name}",
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=out,
                start_new_session=True,  # its own process group: killpg reaches it and nothing else
            )
        self.pid_file.write_text(str(self.process.pid))
        self.lives += 1
        await self.wait_ready(timeout)

    async def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not self.running:
                    raise RuntimeError(f"{self.name} exited at start-up (see {self.log})")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/health/ready")).status_code == 200:
                        return
                await asyncio.sleep(0.25)
        raise RuntimeError(f"{self.name} not ready within {timeout:.0f}s (see {self.log})")

    async def kill(self) -> None:
        """SIGKILL to the whole group: no shutdown hook runs; sends and transactions are cut mid-way."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        await self.process.wait()

    async def stop(self, grace: float = 15.0) -> None:
        """SIGTERM (graceful shutdown), SIGKILL after `grace` seconds."""
        if self.process is None or self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            await self.kill()

    async def metrics(self) -> Samples:
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.get(f"{self.url}/metrics")
            response.raise_for_status()
        return parse_metrics(response.text)


def parse_metrics(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def services_on(names: tuple[str, ...], logs: Path, run_dir: Path) -> dict[str, Service]:
    logs.mkdir(parents=True, exist_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    return {name: Service(name, free_port(), logs / f"{name}.log", run_dir / f"{name}.pid") for name in names}


def _kill_noted_groups(run_dir: Path) -> None:
    for pid_file in run_dir.glob("*.pid"):
        with contextlib.suppress(ValueError, OSError):
            pid = int(pid_file.read_text())
            if b"services." in Path(f"/proc/{pid}/cmdline").read_bytes():  # not a recycled pid
                os.killpg(pid, signal.SIGKILL)


async def clean_up_after(run_dir: Path, log: Path) -> None:
    """Stop what an earlier soak killed before its own clean-up left behind in `run_dir` (its
    services' process groups, its Kafka and PostgreSQL), then remove the directory."""
    _kill_noted_groups(run_dir)
    for script, home in (("kafka.sh", run_dir / "kafka"), ("postgres.sh", run_dir / "pg")):
        if home.is_dir():
            with contextlib.suppress(RuntimeError):
                await _run_script(script, "stop", {**os.environ, "CARELOOP_LOCAL_DIR": str(home)}, log, 120)
    shutil.rmtree(run_dir, ignore_errors=True)
