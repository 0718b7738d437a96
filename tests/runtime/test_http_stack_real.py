"""Every service process serves HTTP on uvicorn's C fast paths: the uvloop event loop and the
httptools parser (a missing one must fail the start, not fall back to the pure-Python ones)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runtime.settings import Settings
from tests.faults.support import NOTIFY_ENV, service_processes


@pytest.mark.parametrize("name", ["intake", "sla", "notify", "survey"])
async def test_a_service_runs_on_uvloop_and_httptools(infra: Settings, name: str) -> None:
    async with service_processes(infra, [name], NOTIFY_ENV if name == "notify" else None) as services:
        process = services[name].process
        assert process is not None
        maps = await asyncio.to_thread(Path(f"/proc/{process.pid}/maps").read_text)
    assert "uvloop/loop." in maps
    assert "httptools/parser/parser." in maps
