"""`make run` and `python -m demo.run` as real process trees in a test: free ports, the environment that
keeps a run apart from the shared servers and from a `make run` in the checkout, and finding every
process a run left behind (by a marker in its environment, which every descendant inherits)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.net import free_port

REPO = Path(__file__).resolve().parents[2]
MARKER = "CARELOOP_TEST_RUN"
MAKE_VARIABLES = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
"""What an outer `make test` exports: a `make` the test starts must not read its options or jobserver."""


def inherited_env() -> dict[str, str]:
    """The test's environment without what would tie a run to the shared servers or an outer make."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in MAKE_VARIABLES
        and k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")
        and not k.startswith(("CARELOOP_", "DEMO_"))
    }


def free_port_base() -> int:
    """A base whose base+1..base+4 (the services) are all free right now."""
    for _ in range(100):
        base = random.randrange(20_000, 60_000, 10)
        sockets = []
        try:
            for offset in range(1, 5):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free port range")


def new_tag() -> str:
    """`MARKER=<unique>`: put into a run's environment, it finds that run's processes."""
    return f"{MARKER}={uuid.uuid4().hex}"


def demo_ports_env(tag: str) -> dict[str, str]:
    """Free ports for the services, the receiver and Prometheus, a fast shop, and the marker."""
    key, value = tag.split("=", 1)
    return {
        key: value,
        "CARELOOP_PORT_BASE": str(free_port_base()),
        "DEMO_RECEIVER_PORT": str(free_port()),
        "DEMO_PROMETHEUS_PORT": str(free_port()),
        "DEMO_SPEED": "3600",
        "DEMO_ORDERS_PER_DAY": "20",
        "DEMO_SUMMARY_SECONDS": "1",  # the summary keeps writing, also while the run stops
        "PYTHONUNBUFFERED": "1",
    }


def processes_tagged(tag: str) -> list[int]:
    """Our processes whose environment carries `tag` (every child of the run inherits it); zombies have
    no environment left and are not counted."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if f"{tag}\0".encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue  # gone meanwhile, or not ours
    return found


def describe(pids: list[int]) -> list[str]:
    """`pid: command line` of each, for an assertion's message."""
    out = []
    for pid in pids:
        try:
            argv = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            argv = [b"(gone)"]
        out.append(f"{pid}: {b' '.join(argv).decode(errors='replace')}")
    return out


def alive(pid: int) -> bool:
    """Running (not a zombie waiting for a parent to reap it)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def left_after(tag: str, timeout: float) -> list[str]:
    """The run's processes still there after waiting up to `timeout` for all of them to go."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        pids = processes_tagged(tag)
        if not pids or asyncio.get_running_loop().time() >= deadline:
            return describe(pids)
        await asyncio.sleep(0.25)


def commands_of(tag: str) -> list[str]:
    return describe(processes_tagged(tag))


@contextmanager
def killing_leftovers(tag: str) -> Iterator[None]:
    """Whatever the test asserts, SIGKILL the run's processes that are left at the end (by pid), so
    that a failing test leaves nothing running either."""
    try:
        yield
    finally:
        for pid in processes_tagged(tag):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def infra_script(local_dir: Path, script: str, action: str, env: dict[str, str]) -> None:
    """deploy/local/<script> on the private local dir only (never the checkout's shared servers)."""
    subprocess.run(
        ["bash", str(REPO / "deploy" / "local" / script), action],
        env={**env, "CARELOOP_LOCAL_DIR": str(local_dir)},
        check=False,
        timeout=120,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
