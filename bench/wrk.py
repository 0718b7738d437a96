"""HTTP load from wrk (Debian's, installed by deploy/local/cli-tools.sh), outside the measured process.

bench/lua/load.lua makes every request a different one (a new customer's contact, the next survey
token from a file, or the next signed Shopify delivery from a file written for the run by a
`DeliverySource`) and its done() prints one `WRK_JSON {...}` line, which `parse_wrk_output` reads.
`drive` runs a warm-up and then the measured run, and records three CPU figures over the measured run:
wrk's own (user + system from wait4, so nothing else is counted), and the server's from /proc, both
as shares of one core: a generator near 1.0 per thread would be the limit, not the server.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bench.common import DEMO_KEY, DEMO_SHOP, ROOT, cpu_seconds

SCRIPT = ROOT / "bench" / "lua" / "load.lua"
MARKER = "WRK_JSON "
TIMEOUT_SECONDS = 10
"""wrk's per-request timeout: a request slower than this counts as a timeout error."""


class WrkUnavailable(RuntimeError):
    """wrk is missing or gave no result: the HTTP figures are missing, not measured another way."""


class DeliverySource(Protocol):
    """Writes the file of signed deliveries one wrk run walks (bench/shopify_orders.py)."""

    def file_for(self, seconds: float) -> Path: ...


@dataclass(frozen=True)
class Load:
    """One HTTP scenario's load: `mode` "contacts" (POST /v1/contacts, unique bodies), "tokens"
    (GET /s/<token>?score=9 over the tokens of `token_file`) or "signed" (POST
    /v1/platforms/shopify/<shop>, each run over a new file of `deliveries`)."""

    mode: str
    concurrency: int
    seconds: float
    threads: int = 1
    warmup: float = 1.0
    token_file: Path | None = None
    deliveries: DeliverySource | None = None
    shop: str = DEMO_SHOP

    def script_args(self, tag: str, seconds: float | None = None) -> list[str]:
        """wrk's script arguments for a run of `seconds` (the load's own by default); a signed load
        writes the run's delivery file here."""
        if self.mode == "contacts":
            return ["contacts", tag, str(self.threads), DEMO_KEY]
        if self.mode == "tokens" and self.token_file is not None:
            return ["tokens", str(self.token_file), str(self.threads)]
        if self.mode == "signed" and self.deliveries is not None:
            deliveries = self.deliveries.file_for(self.seconds if seconds is None else seconds)
            return ["signed", str(deliveries), str(self.threads), self.shop]
        raise ValueError(
            f"load mode {self.mode!r} needs contacts, tokens with a token file, or signed with deliveries"
        )

    def describe(self) -> dict[str, Any]:
        """The load as the report keeps it (no file paths or writers)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("token_file", "deliveries")}


def write_tokens(path: Path, tokens: list[str]) -> Path:
    """The token file bench/lua/load.lua walks, one token a line."""
    path.write_text("".join(f"{token}\n" for token in tokens))
    return path


def random_tokens(count: int) -> list[str]:
    """Tokens shaped like the survey's, for a page that answers any."""
    return [secrets.token_urlsafe(32) for _ in range(count)]


def wrk_command(base: str, load: Load, seconds: float, tag: str) -> list[str]:
    duration = max(1, round(seconds))  # wrk takes whole seconds
    return [
        "wrk",
        f"--threads={load.threads}",
        f"--connections={load.concurrency}",
        f"--duration={duration}s",
        f"--timeout={TIMEOUT_SECONDS}s",
        f"--script={SCRIPT}",
        base,
        "--",
        *load.script_args(tag, duration),
    ]


def parse_wrk_output(stdout: str) -> dict[str, Any]:
    """The figures of one wrk run from the done() line of bench/lua/load.lua. `ok` counts answers
    below 400 (wrk counts the others as status errors); socket errors and timeouts are `errors`."""
    lines = [line for line in stdout.splitlines() if line.startswith(MARKER)]
    if not lines:
        raise WrkUnavailable(f"no {MARKER.strip()} line in wrk's output: {stdout.strip()[-300:]!r}")
    done = json.loads(lines[-1][len(MARKER) :])
    seconds = done["duration_us"] / 1e6
    requests = int(done["requests"])
    errors = done["errors"]
    status_errors = int(errors["status"])
    latency = done["latency_us"]
    ok = requests - status_errors
    return {
        "requests": requests,
        "ok": ok,
        # times a thread came to the end of its delivery file and started it again (signed mode)
        "wrapped": int(done.get("wrapped", 0)),
        "status_400_or_more": status_errors,
        "errors": sum(int(errors[k]) for k in ("connect", "read", "write", "timeout")),
        "socket_errors": {k: int(errors[k]) for k in ("connect", "read", "write", "timeout")},
        "elapsed_seconds": round(seconds, 3),
        "requests_per_second": round(requests / seconds, 1) if seconds else 0.0,
        "ok_per_second": round(ok / seconds, 1) if seconds else 0.0,
        "latency_ms": {
            name: round(float(latency[name]) / 1000.0, 3) for name in ("p50", "p90", "p99", "max", "mean")
        },
    }


@dataclass(frozen=True)
class WrkRun:
    stdout: str
    stderr: str
    returncode: int
    cpu_seconds: float
    """wrk's own user + system CPU, from wait4 on its pid."""
    wall_seconds: float


def run_wrk(argv: list[str], timeout: float) -> WrkRun:
    """Run wrk to its end (it stops itself after --duration; killed at `timeout`), reaped with wait4
    so its rusage is its own and nothing else's."""
    if shutil.which(argv[0]) is None:
        raise WrkUnavailable(
            f"{argv[0]} is not installed: run `bash deploy/local/cli-tools.sh` (make bench does)"
        )
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=err)
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return WrkRun(
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            process.returncode,
            usage.ru_utime + usage.ru_stime,
            wall,
        )


async def wrk_once(base: str, load: Load, seconds: float) -> WrkRun:
    # a signed load writes the run's delivery file while the command is built: off the event loop
    argv = await asyncio.to_thread(wrk_command, base, load, seconds, uuid.uuid4().hex[:10])
    run = await asyncio.to_thread(run_wrk, argv, seconds + TIMEOUT_SECONDS + 30)
    if run.returncode != 0:
        raise WrkUnavailable(f"wrk exited {run.returncode}: {(run.stderr or run.stdout).strip()[-300:]}")
    return run


async def drive(base: str, server_pid: int, load: Load) -> dict[str, Any]:
    """A warm-up run (discarded), then the measured run with wrk's and the server's CPU over it.
    Each run has its own tag in the bodies, so no contact repeats one of an earlier run."""
    if load.warmup > 0:
        await wrk_once(base, load, load.warmup)
    server_before = cpu_seconds(server_pid)
    run = await wrk_once(base, load, load.seconds)
    server = cpu_seconds(server_pid) - server_before
    figures = parse_wrk_output(run.stdout)
    elapsed = figures["elapsed_seconds"] or run.wall_seconds
    return {
        **figures,
        "concurrency": load.concurrency,
        "generator": {
            "program": "wrk",
            "threads": load.threads,
            "cpu_seconds": round(run.cpu_seconds, 3),
            # wrk's threads each use at most one core: near `threads` here means wrk was the limit
            "cpu_share_of_one_core": round(run.cpu_seconds / elapsed, 3),
        },
        "server": {
            "cpu_seconds": round(server, 3),
            "cpu_share_of_one_core": round(server / elapsed, 3),
            "cpu_ms_per_request": round(server * 1000 / max(1, figures["requests"]), 3),
        },
    }
