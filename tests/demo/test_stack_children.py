"""The supervisor's safety nets (tools/stack.py), process by process: a child started through
`guarded` gets SIGTERM when the supervisor dies however it dies, one whose supervisor died before the
guard ran never starts, and a terminal that is gone neither stops the supervisor's own lines nor the
pumps that drain the children's output."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.demo.runs import REPO, alive
from tools.stack import Child, guarded, pump, say

TERM_RECORDER = """
import signal, sys, time
def stop(signum, frame):
    open(sys.argv[1], "w").write(signal.Signals(signum).name)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
time.sleep(600)
"""

# More than a pipe holds, one line longer than the reader's line limit among them: a pump that stopped
# reading would leave the child blocked on its write.
LOUD_CHILD = """
import sys
sys.stdout.write("x" * 200_000 + "\\n")
for i in range(100_000):
    sys.stdout.write(f"{i}\\n")
"""

# Stands for the supervisor: starts one guarded child, says its pid, waits to be killed.
SUPERVISOR = """
import os, subprocess, sys, time
from tools.stack import guarded
argv = guarded([sys.executable, "-c", sys.argv[1], sys.argv[2]], os.getpid())
child = subprocess.Popen(argv, stdout=subprocess.PIPE)
assert child.stdout is not None and child.stdout.readline() == b"ready\\n"
print(child.pid, flush=True)
time.sleep(600)
"""


def test_a_guarded_child_gets_sigterm_when_its_supervisor_is_killed(tmp_path: Path) -> None:
    record = tmp_path / "signal"
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, TERM_RECORDER, str(record)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert supervisor.stdout is not None
    child = int(supervisor.stdout.readline())
    try:
        supervisor.kill()  # SIGKILL: no cleanup of its own
        supervisor.wait(10)
        deadline = time.monotonic() + 10
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child)
        assert record.read_text() == "SIGTERM"  # asked to stop, so it shuts down cleanly
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)


def test_a_child_whose_supervisor_died_before_the_guard_ran_does_not_start(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    # Its parent is this test, not the given pid: the state of a child orphaned before prctl.
    not_the_parent = os.getpid() + 1_000_000
    result = subprocess.run(guarded(["touch", str(ran)], not_the_parent), timeout=30)
    assert result.returncode != 0
    assert not ran.exists()


def test_a_guarded_child_runs_its_program_with_default_sigpipe(tmp_path: Path) -> None:
    result = subprocess.run(
        guarded(["sh", "-c", 'echo "$0 $1"; grep SigIgn /proc/self/status', "one", "two words"], os.getpid()),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    first, ignored = result.stdout.splitlines()
    assert first == "one two words"
    # The supervisor's Python ignores SIGPIPE; its children must die of a closed pipe as usual.
    assert not int(ignored.split()[1], 16) & (1 << (signal.SIGPIPE - 1))


def test_say_survives_a_closed_pipe_and_silences_it() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # tee died: nobody reads any more
    stream = io.TextIOWrapper(io.FileIO(write_end, "w"), line_buffering=True)
    try:
        say("careloop: stopping…", stream)  # BrokenPipeError inside, not out
        say("careloop: still stopping", stream)
        stream.write("later writes succeed too\n")
        stream.flush()
        assert os.readlink(f"/proc/self/fd/{write_end}") == os.devnull
    finally:
        stream.close()


async def test_the_output_pump_drains_a_child_whose_terminal_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    broken = io.TextIOWrapper(io.FileIO(write_end, "w"))
    monkeypatch.setattr(sys, "stdout", broken)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOUD_CHILD, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        await asyncio.wait_for(pump(Child("demo", [], process=process, prefixed=False), ""), 60)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        broken.close()
