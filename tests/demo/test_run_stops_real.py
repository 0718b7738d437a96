"""Whatever happens to its terminal, `make run` leaves no process behind: Ctrl-C with the output piped
through `tee` (tee dies too, so the supervisor writes to a closed pipe) after a `make infra` in another
terminal, a supervisor killed with SIGKILL (its children's parent-death signal), and Ctrl-C while Kafka
or PostgreSQL is still starting."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from runtime.settings import Settings
from services import SERVICE_NAMES
from tests.demo.runs import (
    MARKER,
    REPO,
    alive,
    commands_of,
    demo_ports_env,
    inherited_env,
    killing_leftovers,
    left_after,
    new_tag,
    port_in_use,
)
from tests.support.net import free_port
from tests.support.shops import KEY_A, SHOP_A
from tests.support.wait import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

STOP_WITHIN = 90.0
"""Seconds for a whole run to go: the demo, Prometheus and the services stop one group after another,
each with its own grace period, then the exit trap stops what up.sh started."""


def isolated_run_env(infra: Settings, tag: str, local: Path) -> dict[str, str]:
    """A run on the shared servers in its own topics and schemas, with its files in `local`."""
    return {
        **inherited_env(),
        **demo_ports_env(tag),
        "CARELOOP_LOCAL_DIR": str(local),
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,  # up.sh starts nothing
        "DATABASE_URL": infra.database_url.get_secret_value(),
        "CARELOOP_TOPIC_PREFIX": infra.topic_prefix,
        "CARELOOP_SCHEMA_PREFIX": infra.schema_prefix,
        "CARELOOP_SHOPS_FILE": str(infra.shops_file),
        "DEMO_SHOP_ID": SHOP_A,
        "DEMO_API_KEY": KEY_A,
        "CARELOOP_LOG_LEVEL": "INFO",  # the services' logs show them shutting down
    }


async def make_run_through_tee(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    """`make run 2>&1 | tee run.log` as typed in a terminal: make and tee in one process group (the
    terminal's foreground group), whose leader this returns."""
    return await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        'make -C "$1" -o .venv/.synced run 2>&1 | tee "$2"',
        "terminal",
        str(REPO),
        str(log),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )


def text_of(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


async def until_demo_is_up(
    log: Path, env: dict[str, str], tag: str, process: asyncio.subprocess.Process
) -> list[str]:
    """Once the services are ready, the demo's receiver answers and Prometheus runs: the run's processes."""
    receiver = f"http://127.0.0.1:{env['DEMO_RECEIVER_PORT']}/stats"

    async def probe() -> bool:
        if process.returncode is not None:
            raise AssertionError(f"the run ended early:\n{text_of(log)[-4000:]}")
        if "careloop: all services ready" not in text_of(log):
            return False
        if not any("prometheus --config.file" in command for command in commands_of(tag)):
            return False
        try:
            async with httpx.AsyncClient() as http:
                return (await http.get(receiver)).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        await eventually(probe, timeout=150, interval=0.5)
    except AssertionError as e:
        running = "\n".join(commands_of(tag))
        raise AssertionError(f"{e}\n--- output:\n{text_of(log)[-4000:]}\n--- running:\n{running}") from None
    return commands_of(tag)


def private_infra_env(local: Path) -> dict[str, str]:
    """deploy/local/up.sh starts a Kafka and a PostgreSQL of the run's own, in `local`, on free ports."""
    return {
        "CARELOOP_LOCAL_DIR": str(local),
        "CARELOOP_KAFKA_PORT": str(free_port()),
        "CARELOOP_KAFKA_CONTROLLER_PORT": str(free_port()),
        "CARELOOP_KAFKA_HEAP": "-Xms128m -Xmx384m",
        "CARELOOP_PG_PORT": str(free_port()),
    }


def first_number(path: Path) -> int:
    return int(text_of(path).split()[0])


async def make_infra(env: dict[str, str]) -> None:
    """`make infra` typed in another terminal: up.sh with no owner, the servers already up."""
    done = await asyncio.create_subprocess_exec(
        "make",
        "-C",
        str(REPO),
        "-o",
        ".venv/.synced",
        "infra",
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(done.communicate(), 120)
    assert done.returncode == 0, out.decode(errors="replace")


async def test_ctrl_c_on_make_run_through_tee_leaves_nothing(private_local_dir: Path, tmp_path: Path) -> None:
    """The whole of `make run` as a newcomer runs it, with Kafka and PostgreSQL of its own; meanwhile
    `make infra` in another terminal (which once made `make run` forget the servers it started)."""
    tag, log = new_tag(), tmp_path / "run.log"
    env = {
        **inherited_env(),
        **demo_ports_env(tag),
        **private_infra_env(private_local_dir),
        "CARELOOP_LOG_LEVEL": "INFO",  # the services' logs show them shutting down
        # No summary: the first write after Ctrl-C is then the supervisor's own "stopping" line, into
        # the pipe tee no longer reads. (The output pumps meet a closed pipe in test_stack_children.py.)
        "DEMO_SUMMARY_SECONDS": "3600",
    }
    with killing_leftovers(tag):
        terminal = await make_run_through_tee(env, log)
        running = await until_demo_is_up(log, env, tag, terminal)
        broker = first_number(private_local_dir / "kafka" / "kafka.pid")
        postmaster = first_number(private_local_dir / "pg" / "data" / "postmaster.pid")
        started = text_of(private_local_dir / "started")
        await make_infra(env)
        assert text_of(private_local_dir / "started") == started  # still make run's, to stop
        os.killpg(terminal.pid, signal.SIGINT)  # Ctrl-C: make, its shells, the supervisor and tee
        left = await left_after(tag, STOP_WITHIN)
        await asyncio.wait_for(terminal.wait(), 10)
    assert left == [], f"left running after Ctrl-C (of {len(running)}):\n" + "\n".join(left)
    # The exit trap's down.sh stopped both servers, though its messages went into the closed pipe.
    assert not alive(broker)
    assert not alive(postmaster)
    assert not (private_local_dir / "started").exists()
    base = int(env["CARELOOP_PORT_BASE"])
    services = [base + 1, base + 2, base + 3, base + 4]
    others = ("DEMO_PROMETHEUS_PORT", "DEMO_RECEIVER_PORT", "CARELOOP_KAFKA_PORT", "CARELOOP_PG_PORT")
    for port in services + [int(env[name]) for name in others]:
        assert not port_in_use(port)
    # Stopped, not orphaned: every service shut down cleanly, with nobody reading the terminal.
    for name in SERVICE_NAMES:
        assert "FastStream app shut down" in (private_local_dir / "logs" / f"{name}.log").read_text()


async def test_no_child_outlives_a_supervisor_killed_with_sigkill(infra: Settings, tmp_path: Path) -> None:
    tag = new_tag()
    local, log = tmp_path / "local", tmp_path / "run.log"
    env = isolated_run_env(infra, tag, local)
    with killing_leftovers(tag), log.open("wb") as out:
        supervisor = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "demo.run",
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        running = await until_demo_is_up(log, env, tag, supervisor)
        assert len(running) >= 7  # the supervisor, four services, Prometheus, the demo
        supervisor.kill()  # the supervisor alone, with no chance to stop anything
        await supervisor.wait()
        left = await left_after(tag, STOP_WITHIN)
    assert left == [], f"outlived the supervisor (of {len(running)}):\n" + "\n".join(left)


STARTING = {"kafka": Path("kafka") / "kafka.pid", "postgres": Path("pg") / "data" / "postmaster.pid"}
"""Where each server's pid shows once it was launched (and before it is ready)."""


@pytest.mark.parametrize("server", ["kafka", "postgres"])
async def test_ctrl_c_while_a_server_starts_leaves_none(
    server: str, private_local_dir: Path, tmp_path: Path
) -> None:
    """Ctrl-C as soon as the server was launched: Kafka's JVM, or PostgreSQL's postmaster once Kafka
    is up (up.sh starts them in that order)."""
    tag = new_tag()
    env = {**inherited_env(), MARKER: tag.split("=", 1)[1], **private_infra_env(private_local_dir)}
    pid_file = private_local_dir / STARTING[server]
    with killing_leftovers(tag):
        terminal = await make_run_through_tee(env, tmp_path / "run.log")

        async def launched() -> int:
            if terminal.returncode is not None:
                raise AssertionError("make run ended early:\n" + text_of(tmp_path / "run.log"))
            words = text_of(pid_file).split()
            return int(words[0]) if words and words[0].isdigit() and alive(int(words[0])) else 0

        pid = await eventually(launched, timeout=120, interval=0.02)
        os.killpg(terminal.pid, signal.SIGINT)
        left = await left_after(tag, STOP_WITHIN)
        await asyncio.wait_for(terminal.wait(), 10)
    assert left == [], f"left running after Ctrl-C while {server} started:\n" + "\n".join(left)
    assert not alive(pid)
    assert not (private_local_dir / "started").exists()  # down.sh stopped all it recorded
