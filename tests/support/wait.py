from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], *, timeout: float = 20.0, interval: float = 0.1) -> T:
    """Poll `probe` until it returns a truthy value; fail with its last value after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: T = await probe()
    while not last:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")
        await asyncio.sleep(interval)
        last = await probe()
    return last
