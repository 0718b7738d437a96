"""`python -m demo`: the demo shop process `make run` starts beside the services (see demo/run.py)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import httpx

from demo.app import DemoShop
from demo.config import DemoSettings
from runtime.clock import clock_from_settings
from runtime.settings import Settings
from tools.stack import service_urls, silence


async def main() -> int:
    settings = Settings()
    demo = DemoSettings()
    clock = clock_from_settings(settings.time_factor, settings.time_origin)
    urls = service_urls(settings.http_host)
    auth = {"Authorization": f"Bearer {demo.api_key.get_secret_value()}"}
    clients = {
        name: httpx.AsyncClient(base_url=url, headers=auth, timeout=10.0) for name, url in urls.items()
    }
    pages = httpx.AsyncClient(timeout=10.0)
    shop = DemoShop(
        settings, demo, clock, urls=urls, clients=clients, pages=pages, speed=settings.time_factor
    )
    running = asyncio.create_task(shop.run())
    loop = asyncio.get_running_loop()
    # SIGTERM also comes from the kernel when `make run`'s supervisor dies (its parent-death signal).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, running.cancel)
    try:
        await running
    except asyncio.CancelledError:
        pass
    except BrokenPipeError:  # nobody reads the summary any more (shop.run cleaned up on its way out)
        silence(sys.stdout)
    finally:
        for client in (*clients.values(), pages):
            await client.aclose()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="    demo | %(levelname)s %(name)s: %(message)s")
    sys.exit(asyncio.run(main()))
