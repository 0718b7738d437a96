"""The webhook scenarios' receiver: bench/receiver/receiver.c, built by the bench, run as its own process.

A Python receiver on the same 2 cores costs the sender's CPU and shows up in the latency it measures;
this one answers 204 at once (epoll, keep-alive, Content-Length bodies) and appends
`<arrival ns> <webhook-id> <event time>` per request to a log that `CompiledReceiver` reads as it
grows. There is no fallback: without a C compiler the bench stops and says so.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import ROOT, cpu_seconds, latency_ms, terminate

SOURCE = ROOT / "bench" / "receiver" / "receiver.c"
BUILD_DIR = ROOT / ".local" / "bench"
CFLAGS = ("-O2", "-std=c11", "-Wall", "-Wextra")


def thread_cpu_seconds(pid: int) -> float:
    """CPU time of a single-threaded process in ns resolution (/proc/<pid>/schedstat); the clock
    ticks of /proc/<pid>/stat are too coarse for a receiver that uses milliseconds in a run."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except OSError:  # a kernel without scheduler statistics
        return cpu_seconds(pid)


class ReceiverUnavailable(RuntimeError):
    """The receiver cannot be built or started: the webhook figures are missing, not measured another way."""


def build_receiver(source: Path = SOURCE, build_dir: Path = BUILD_DIR) -> Path:
    """Compile the receiver unless this source's binary is there (named by the source's hash and the
    flags); atomic, so two benches building at once each end up with a whole binary."""
    digest = hashlib.sha256(source.read_bytes() + " ".join(CFLAGS).encode()).hexdigest()[:16]
    binary = build_dir / f"receiver-{digest}"
    if binary.exists():
        return binary
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise ReceiverUnavailable(
            "no C compiler (cc or gcc) to build bench/receiver/receiver.c: "
            "run `bash deploy/local/cli-tools.sh` (make bench does)"
        )
    build_dir.mkdir(parents=True, exist_ok=True)
    partial = build_dir / f"receiver.{os.getpid()}.tmp"
    done = subprocess.run(
        [compiler, *CFLAGS, "-o", str(partial), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise ReceiverUnavailable(f"{compiler} failed on {source.name}: {done.stderr.strip()[-800:]}")
    partial.replace(binary)
    return binary


@dataclass(frozen=True)
class Arrival:
    arrived: float
    """Wall time the request's body was complete, seconds since the epoch."""
    webhook_id: str
    event_time: float | None
    """The body's event time, seconds since the epoch (None when the body carried none)."""


def parse_log_line(line: str) -> Arrival:
    """One receiver log line: `<arrival ns> <webhook-id or -> <ISO event time or ->`."""
    arrived_ns, webhook_id, stamp = line.split(" ")
    event_time = None
    if stamp != "-":
        event_time = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    return Arrival(int(arrived_ns) / 1e9, "" if webhook_id == "-" else webhook_id, event_time)


class ReceiverLog:
    """Reads the receiver's log as it grows: whole lines only, each webhook-id's first arrival kept."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.first_seen: dict[str, tuple[float, float]] = {}
        """webhook-id -> (wall arrival, event time)"""
        self.requests = 0
        self.without_time = 0
        self._offset = 0

    def read_new(self) -> None:
        with self.path.open("rb") as log:
            log.seek(self._offset)
            chunk = log.read()
        whole = chunk.rfind(b"\n") + 1  # a line being written is read next time
        self._offset += whole
        for line in chunk[:whole].decode().splitlines():
            self.add(parse_log_line(line))

    def add(self, arrival: Arrival) -> None:
        self.requests += 1
        if arrival.webhook_id in self.first_seen:
            return
        if arrival.event_time is None:
            self.without_time += 1
            return
        self.first_seen[arrival.webhook_id] = (arrival.arrived, arrival.event_time)


class CompiledReceiver:
    """The receiver process for one run: notes each webhook-id's first arrival with the event time its
    JSON body carries in `time_field` ("timestamp" in a Standard Webhooks body, "time" in a CloudEvent),
    and its own CPU, so a reader sees it was not the limit."""

    def __init__(self, expected: int, time_field: str) -> None:
        self.expected = expected
        self.time_field = time_field
        self.port = 0
        self._dir = tempfile.TemporaryDirectory(prefix="careloop-receiver-")
        self.log = ReceiverLog(Path(self._dir.name) / "arrivals.log")
        self._process: asyncio.subprocess.Process | None = None
        self._cpu_at_mark = 0.0
        self._cpu_seconds: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def first_seen(self) -> dict[str, tuple[float, float]]:
        return self.log.first_seen

    async def start(self) -> None:
        binary = await asyncio.to_thread(build_receiver)
        self._process = await asyncio.create_subprocess_exec(
            str(binary),
            self.time_field,
            str(self.log.path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self._process.stdout is not None
        try:
            line = await asyncio.wait_for(self._process.stdout.readline(), 10.0)
            self.port = int(line)
        except (TimeoutError, ValueError) as exc:
            await terminate(self._process, grace=2.0)
            raise ReceiverUnavailable(f"the receiver did not report its port: {exc!r}") from exc
        self.mark()

    def mark(self) -> None:
        """Start of the measured window for the receiver's CPU."""
        assert self._process is not None
        self._cpu_at_mark = thread_cpu_seconds(self._process.pid)

    async def wait_all(self, timeout: float) -> bool:
        """Poll the log until every expected webhook-id has arrived or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while True:
            self.log.read_new()
            if len(self.first_seen) >= self.expected:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._process is not None:
            if self._process.returncode is None:
                self._cpu_seconds = thread_cpu_seconds(self._process.pid) - self._cpu_at_mark
            await terminate(self._process, grace=5.0)
            self.log.read_new()  # what it flushed on the way out
        self._dir.cleanup()

    def latencies(self) -> list[float]:
        """Event time to first arrival of each webhook-id, in seconds, sorted."""
        return sorted(arrived - event_time for arrived, event_time in self.first_seen.values())

    def last_arrival(self) -> float | None:
        return max((arrived for arrived, _ in self.first_seen.values()), default=None)

    def delivery_figures(
        self, events: int, rate: float, started: float, published: float, wall_start: float
    ) -> dict[str, Any]:
        """What notify's run and its ceiling both report: publishing, deliveries, their latency and the
        receiver's CPU. `started`/`published` bound the publishing (monotonic), `wall_start` is its
        wall-clock start. Call after stop()."""
        delivered = len(self.first_seen)
        last_arrival = self.last_arrival()
        last = (last_arrival - wall_start) if last_arrival is not None else float("nan")
        window = max(1e-9, last if last == last else published - started)
        cpu = self._cpu_seconds
        return {
            "events": events,
            "offered_rate_per_second": rate,
            "achieved_publish_rate_per_second": round(events / max(1e-9, published - started), 1),
            "delivered": delivered,
            "undelivered": events - delivered,
            "duplicate_requests": self.log.requests - delivered,
            "seconds_first_publish_to_last_delivery": round(last, 3),
            "deliveries_per_second": round(delivered / last, 1) if delivered else 0.0,
            "event_to_delivery_latency_ms": latency_ms(self.latencies()),
            "receiver": {
                "program": "bench/receiver/receiver.c (epoll, answers 204)",
                "cpu_seconds": None if cpu is None else round(cpu, 6),
                # over first publish -> last delivery: near 1.0 would mean the receiver was the limit
                "cpu_share_of_one_core": None if cpu is None else round(cpu / window, 5),
            },
        }
