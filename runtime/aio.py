"""asyncio helpers that stay correct on Python 3.11."""

from __future__ import annotations

import asyncio
import contextlib


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until `event` is set or `timeout` passes; True if it was set.

    Python 3.11's asyncio.wait_for can swallow a cancellation that arrives just as the awaited
    event fires (gh-86296), leaving a loop that ignores shutdown; asyncio.timeout does not.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
    return event.is_set()
