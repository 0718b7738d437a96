"""deploy/local/up.sh and down.sh keep what `make run` started for `make run`'s exit trap, whatever
other calls run meanwhile (`make infra`, `make infra-down`, `make test`), and what a `make run` killed
before its trap could run goes with the next caller. On a private PostgreSQL (KAFKA_BOOTSTRAP_SERVERS
set, so no broker is started)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.demo.runs import REPO, inherited_env, port_in_use
from tests.support.net import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(240)]

Script = Callable[..., None]


def scripts(local: Path, pg_port: int) -> Script:
    """`script("up.sh", owner)`: the script on `local`, as called by the shell whose pid is `owner`."""

    def script(name: str, owner: int | None = None) -> None:
        env = {
            **inherited_env(),
            "CARELOOP_LOCAL_DIR": str(local),
            "CARELOOP_PG_PORT": str(pg_port),
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",  # never contacted: up.sh starts no broker
        }
        if owner is not None:
            env["CARELOOP_INFRA_OWNER"] = str(owner)
        script_path = REPO / "deploy" / "local" / name
        subprocess.run(
            ["bash", str(script_path)], env=env, check=True, timeout=120, stdout=subprocess.DEVNULL
        )

    return script


def test_make_infra_beside_make_run_leaves_its_servers_to_its_exit_trap(private_local_dir: Path) -> None:
    pg_port = free_port()
    script, started = scripts(private_local_dir, pg_port), private_local_dir / "started"
    make_run = subprocess.Popen(["sleep", "600"])  # stands for `make run`'s shell, alive all along
    try:
        script("up.sh", make_run.pid)
        assert port_in_use(pg_port)
        assert started.read_text() == f"postgres {make_run.pid}\n"
        script("up.sh")  # `make infra` meanwhile: PostgreSQL is up already
        script("down.sh")  # `make infra-down`, or the exit trap of a `make test` meanwhile
        assert port_in_use(pg_port)
        assert started.read_text() == f"postgres {make_run.pid}\n"
        script("down.sh", make_run.pid)  # `make run`'s exit trap: Ctrl-C
        assert not port_in_use(pg_port)
        assert not started.exists()
    finally:
        make_run.kill()
        make_run.wait()


def test_servers_of_a_killed_make_run_go_with_the_next_caller(private_local_dir: Path) -> None:
    pg_port = free_port()
    script, started = scripts(private_local_dir, pg_port), private_local_dir / "started"
    for next_caller in (["down.sh"], ["up.sh", "down.sh"]):  # `make infra-down`; `make test`
        make_run = subprocess.Popen(["sleep", "600"])
        script("up.sh", make_run.pid)
        make_run.kill()  # its shell killed: no exit trap ran
        make_run.wait()
        assert port_in_use(pg_port)
        for name in next_caller:
            script(name)
            if name == "up.sh":
                assert started.read_text() == "postgres\n"  # taken over
        assert not port_in_use(pg_port), next_caller
        assert not started.exists()
