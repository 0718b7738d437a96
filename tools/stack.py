"""The whole CareLoop stack on one machine.

python -m tools.stack bootstrap   topics, per-service schemas and roles, migrations
python -m tools.stack run         bootstrap, then run the four services (and extra
                                     processes such as the demo) with prefixed logs until
                                     Ctrl-C/SIGTERM/SIGHUP, which stops every child cleanly

No child outlives the supervisor: each is started with a parent-death signal (SIGTERM), so even a
supervisor killed with SIGKILL leaves nothing running, and losing the terminal (a closed pipe, a
hung-up tty) never stops the supervisor from stopping its children.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import httpx

from runtime.db import Database
from runtime.migrations import RUNTIME_SQL, apply_migrations, load_migrations
from runtime.provision import ensure_service_schema, ensure_topics
from runtime.settings import Settings
from services import SERVICE_NAMES, SERVICE_PORTS

PORT_BASE_ENV = "CARELOOP_PORT_BASE"
COLOURS = ("\033[36m", "\033[35m", "\033[33m", "\033[32m", "\033[34m", "\033[31m")
RESET = "\033[0m"


def say(text: str, stream: TextIO | None = None) -> None:
    """Print a line, unless the terminal is gone: `make run | tee` after Ctrl-C (tee died, EPIPE) or a
    closed terminal window (EIO). Stopping the children must never depend on being able to print."""
    out = sys.stdout if stream is None else stream
    try:
        out.write(text + "\n")
        out.flush()
    except (OSError, ValueError):  # ValueError: the stream was closed
        silence(out)


def silence(stream: TextIO) -> None:
    """Point the stream's descriptor at /dev/null, so that later writes (and the interpreter's last
    flush at exit) succeed quietly instead of raising again."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


# Runs in each child between fork and the real program. PR_SET_PDEATHSIG makes the kernel send the child
# SIGTERM when its parent dies, however it dies (SIGKILL, a crash), so it shuts down as on Ctrl-C; the
# setting survives execve. It fires when the parent *thread* that forked exits: children are forked by
# the event loop's thread, which lives as long as the supervisor. If the supervisor died before prctl
# ran, the child is already orphaned (another parent) and the signal would never come: it does not
# start. Python ignores SIGPIPE and SIGXFSZ and the ignoring would survive execve: back to defaults.
_GUARD = """
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(1, ctypes.c_ulong(signal.SIGTERM)) != 0:  # 1: PR_SET_PDEATHSIG
    raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
if os.getppid() != int(sys.argv[1]):
    sys.exit(70)
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
os.execvp(sys.argv[2], sys.argv[2:])
"""


def guarded(argv: list[str], parent: int) -> list[str]:
    """`argv` as a command that gets SIGTERM when process `parent` (the one starting it) dies."""
    return [sys.executable, "-I", "-S", "-c", _GUARD, str(parent), *argv]


async def bootstrap(settings: Settings) -> None:
    created = await ensure_topics(settings.kafka_bootstrap_servers, settings.topic_prefix)
    say(f"careloop: topics ready ({len(created)} created)")
    from importlib import import_module

    for name in SERVICE_NAMES:
        service_settings = settings.for_service(name)
        await ensure_service_schema(service_settings)
        migrations = load_migrations(RUNTIME_SQL, "runtime") + load_migrations(
            import_module(f"services.{name}.bootstrap").MIGRATIONS, name
        )
        db = Database(service_settings)
        await db.open()
        try:
            async with db.pool.acquire() as conn:
                applied = await apply_migrations(conn, service_settings.db_schema, migrations)
        finally:
            await db.close()
        say(f"careloop: schema {service_settings.db_schema} ready ({len(applied)} migrations applied)")


def service_ports() -> dict[str, int]:
    """Each service's HTTP port: 8001-8004, or all moved together by CARELOOP_PORT_BASE (base+1 … base+4),
    so a second stack (a test) can run beside `make run`."""
    base = int(os.environ.get(PORT_BASE_ENV, "8000"))
    return {name: base + SERVICE_PORTS[name] - 8000 for name in SERVICE_NAMES}


def service_urls(host: str) -> dict[str, str]:
    return {name: f"http://{host}:{port}" for name, port in service_ports().items()}


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None
    prefixed: bool = True
    """False for a child that draws its own screen (the demo's live summary)."""
    log_path: Path | None = None
    """Where its output goes instead of the terminal (the demo keeps the screen for its summary)."""
    essential: bool = True
    """If it exits, everything stops; a non-essential child (the demo's Prometheus) may go alone."""


def service_child(name: str, host: str) -> Child:
    ports = service_ports()
    env = {"CARELOOP_HTTP_PORT": str(ports[name])}
    if name == "survey" and "CARELOOP_PUBLIC_BASE_URL" not in os.environ:
        env["CARELOOP_PUBLIC_BASE_URL"] = f"http://{host}:{ports['survey']}"
    return Child(name, [sys.executable, "-m", f"services.{name}"], env)


async def _read_line(stream: asyncio.StreamReader) -> bytes:
    while True:
        try:
            return await stream.readline()
        except ValueError:  # a line longer than the stream's limit was dropped: read on
            continue


async def pump(child: Child, colour: str) -> None:
    """Pass the child's output on, to its log file or to the terminal. Output that cannot be written is
    dropped, but the pipe is always drained to the end: a child whose pipe fills up blocks, and one blocked
    that way could not stop when asked."""
    assert child.process is not None
    assert child.process.stdout is not None
    stream = child.process.stdout
    if child.log_path is None:
        prefix = f"{colour}{child.name:>8} |{RESET} " if sys.stdout.isatty() else f"{child.name:>8} | "
        if not child.prefixed:
            prefix = ""
        while line := await _read_line(stream):
            try:
                sys.stdout.write(prefix + line.decode(errors="replace"))
                sys.stdout.flush()
            except (OSError, ValueError):  # the terminal is gone (see say)
                silence(sys.stdout)
        return
    child.log_path.parent.mkdir(parents=True, exist_ok=True)
    with child.log_path.open("wb") as log:  # this run's output only
        writable = True
        while line := await _read_line(stream):
            if writable:
                try:
                    log.write(line)
                    log.flush()
                except OSError:  # e.g. a full disk
                    writable = False


async def _wait_ready(settings: Settings, timeout: float = 90.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        for name, base_url in service_urls(settings.http_host).items():
            url = f"{base_url}/health/ready"
            while True:
                try:
                    if (await client.get(url)).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"{name} did not become ready at {url}")
                await asyncio.sleep(0.5)


STOPPED = ""
"""What `_until` answers when a stop signal came."""


class _Children:
    """The children started so far and the tasks pumping their output."""

    def __init__(self) -> None:
        self.started: list[Child] = []
        self.pumps: list[asyncio.Task[None]] = []

    async def start(self, child: Child) -> None:
        # Forked here, on the event loop's thread: the thread the children's parent-death signal watches.
        child.process = await asyncio.create_subprocess_exec(
            *guarded(child.argv, os.getpid()),
            env={**os.environ, **child.env, "PYTHONUNBUFFERED": "1"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the children in order
        )
        self.started.append(child)
        colour = COLOURS[(len(self.started) - 1) % len(COLOURS)]
        self.pumps.append(asyncio.create_task(pump(child, colour)))

    async def stop(self) -> None:
        say("careloop: stopping…")
        await _stop_all(self.started)
        if self.pumps:  # the last lines the children wrote on their way out
            await asyncio.wait(self.pumps, timeout=5.0)
        for task in self.pumps:
            task.cancel()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # SIGHUP: the terminal was closed. Stopping the children beats dying without them.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _say_ready(settings: Settings, service_logs: Path | None) -> None:
    say("careloop: all services ready:")
    for name, base_url in service_urls(settings.http_host).items():
        say(f"  {name:>7}  {base_url}  (/health/ready, /metrics)")
    if service_logs is not None:
        say(f"careloop: service logs in {service_logs}/<service>.log")


async def run(settings: Settings, extra: list[Child], service_logs: Path | None = None) -> int:
    """`service_logs`: a directory for the services' output (<name>.log) instead of the terminal."""
    await bootstrap(settings)
    services = [service_child(n, settings.http_host) for n in SERVICE_NAMES]
    if service_logs is not None:
        for child in services:
            child.log_path = service_logs / f"{child.name}.log"
    stop = _stop_on_signals()
    children = _Children()
    try:
        for child in services:
            await children.start(child)
        # Ctrl-C or a crashing service during start-up ends the wait for readiness at once.
        why = await _until(stop, children.started, _wait_ready(settings))
        if why is None:
            _say_ready(settings, service_logs)
            for child in extra:
                await children.start(child)
            why = await _until(stop, children.started)
        if why != STOPPED:
            where = f" (see {service_logs})" if service_logs is not None else ""
            say(f"careloop: {why} exited{where}; stopping everything", sys.stderr)
            return 1
        return 0
    finally:
        await children.stop()


async def _until(
    stop: asyncio.Event, children: list[Child], work: Awaitable[None] | None = None
) -> str | None:
    """Wait for `work` (forever without it) and answer None when it is done, or give it up and answer why:
    STOPPED for a stop signal, or the name of an essential child that exited. `work`'s errors propagate."""
    job = asyncio.ensure_future(work if work is not None else asyncio.Event().wait())
    stopped = asyncio.create_task(stop.wait())
    exited = asyncio.create_task(_first_exit(children))
    try:
        await asyncio.wait([job, stopped, exited], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (job, stopped, exited):
            task.cancel()
    if stop.is_set():
        return STOPPED
    if exited.done() and not exited.cancelled():
        return exited.result()
    job.result()
    return None


async def _first_exit(children: list[Child]) -> str:
    waits = {asyncio.create_task(c.process.wait()): c.name for c in children if c.process and c.essential}
    if not waits:
        await asyncio.Event().wait()
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        return waits[done.pop()]
    finally:
        for task in waits:
            task.cancel()


async def _stop_all(children: list[Child], grace: float = 25.0) -> None:
    # The demo first, to the end (it feeds the services and unsubscribes from notify), then the services.
    extras = [c for c in children if c.name not in SERVICE_NAMES]
    services = [c for c in children if c.name in SERVICE_NAMES]
    for group in (extras, services):
        await _stop_group(group, grace)


async def _stop_group(children: list[Child], grace: float) -> None:
    processes = [c.process for c in reversed(children) if c.process is not None]
    for process in processes:
        _send(process, signal.SIGTERM)
    deadline = asyncio.get_running_loop().time() + grace
    for process in processes:
        try:
            await asyncio.wait_for(process.wait(), max(0.0, deadline - asyncio.get_running_loop().time()))
        except TimeoutError:
            _send(process, signal.SIGKILL)
            await process.wait()


def _send(process: asyncio.subprocess.Process, sig: int) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
            process.send_signal(sig)


def main(argv: list[str]) -> int:
    settings = Settings()
    if argv[:1] == ["bootstrap"]:
        asyncio.run(bootstrap(settings))
        return 0
    if argv[:1] == ["run"]:
        return asyncio.run(run(settings, extra=[]))
    say(__doc__ or "", sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
