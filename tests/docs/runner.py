"""Runs a document's examples (tests/docs/examples.py) in one bash process with real curl."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docs.examples import doc_lines_in, examples_of, problems_in_log, script_for


@dataclass(frozen=True)
class Run:
    checked: int
    """Status comments the run reached."""
    problems: list[str]


def tools_present() -> None:
    for tool in ("bash", "curl", "jq"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: the docs' examples use it (apt-get install {tool})")


async def run_examples(doc: str, text: str, ports: dict[str, int], workdir: Path, timeout: float) -> Run:
    """The document's examples against the services on `ports`, with nothing of the test's environment
    but PATH (no proxies, no ~/.curlrc: HOME is `workdir`)."""
    tools_present()
    script = script_for(examples_of(doc, text), ports)
    log = workdir / (doc.replace("/", "_") + ".log")
    log.write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "CARELOOP_EXAMPLES_LOG": str(log),
    }
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        script.text,
        cwd=workdir,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # its own group, so a timeout stops the sleeps and curls it started
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        return Run(0, [f"{doc}: the examples did not finish within {timeout:.0f} s; log:\n{log.read_text()}"])
    entries = log.read_text()
    problems = problems_in_log(entries, script, process.returncode or 0)
    if problems:
        printed = doc_lines_in(output.decode(errors="replace"), script)[-3000:]
        problems.append(f"{doc}: the examples printed (last part):\n{printed}")
    return Run(entries.count("EXPECT "), problems)
