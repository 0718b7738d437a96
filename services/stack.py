"""The whole CareLoop stack on one machine.

python -m services.stack bootstrap   topics, per-service schemas and roles, migrations
python -m services.stack run         bootstrap, then run the four services (and extra
                                     processes such as the demo) with prefixed logs until
                                     Ctrl-C/SIGTERM, which stops every child cleanly
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass, field

import httpx

from runtime.db import Database
from runtime.migrations import RUNTIME_SQL, apply_migrations, load_migrations
from runtime.provision import ensure_service_schema, ensure_topics
from runtime.settings import Settings
from services import SERVICE_NAMES

COLOURS = ("\033[36m", "\033[35m", "\033[33m", "\033[32m", "\033[34m", "\033[31m")
RESET = "\033[0m"


async def bootstrap(settings: Settings) -> None:
    created = await ensure_topics(settings.kafka_bootstrap_servers, settings.topic_prefix)
    print(f"careloop: topics ready ({len(created)} created)")
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
        print(f"careloop: schema {service_settings.db_schema} ready ({len(applied)} migrations applied)")


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None


async def _pump(child: Child, colour: str) -> None:
    assert child.process is not None
    assert child.process.stdout is not None
    prefix = f"{colour}{child.name:>8} |{RESET} " if sys.stdout.isatty() else f"{child.name:>8} | "
    async for line in child.process.stdout:
        sys.stdout.write(prefix + line.decode(errors="replace"))
        sys.stdout.flush()


async def _wait_ready(settings: Settings, timeout: float = 90.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        for name in SERVICE_NAMES:
            url = f"http://{settings.http_host}:{settings.for_service(name).port}/health/ready"
            while True:
                try:
                    if (await client.get(url)).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"{name} did not become ready at {url}")
                await asyncio.sleep(0.5)


async def run(settings: Settings, extra: list[Child]) -> int:
    await bootstrap(settings)
    children = [Child(n, [sys.executable, "-m", f"services.{n}"]) for n in SERVICE_NAMES]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def start(child: Child, colour: str) -> asyncio.Task[None]:
        child.process = await asyncio.create_subprocess_exec(
            *child.argv,
            env={**os.environ, **child.env, "PYTHONUNBUFFERED": "1"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the children in order
        )
        return asyncio.create_task(_pump(child, colour))

    pumps = [await start(c, COLOURS[i % len(COLOURS)]) for i, c in enumerate(children)]
    try:
        await _wait_ready(settings)
        print("careloop: all services ready:")
        for name in SERVICE_NAMES:
            port = settings.for_service(name).port
            print(f"  {name:>7}  http://{settings.http_host}:{port}  (/health/ready, /metrics)")
        for i, child in enumerate(extra):
            pumps.append(await start(child, COLOURS[(len(children) + i) % len(COLOURS)]))
        children += extra
        exited = asyncio.create_task(_first_exit(children))
        await asyncio.wait([exited, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        if exited.done():
            print(f"careloop: {exited.result()} exited; stopping everything", file=sys.stderr)
            return 1
        return 0
    finally:
        print("careloop: stopping…")
        await _stop_all(children)
        for pump in pumps:
            pump.cancel()


async def _first_exit(children: list[Child]) -> str:
    waits = {asyncio.create_task(c.process.wait()): c.name for c in children if c.process}
    done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    return waits[done.pop()]


async def _stop_all(children: list[Child], grace: float = 25.0) -> None:
    # Stop the demo first (it feeds the services), then the services.
    for child in reversed(children):
        if child.process and child.process.returncode is None:
            child.process.send_signal(signal.SIGTERM)
    for child in reversed(children):
        if child.process is None:
            continue
        try:
            await asyncio.wait_for(child.process.wait(), grace)
        except TimeoutError:
            child.process.kill()
            await child.process.wait()


def main(argv: list[str]) -> int:
    settings = Settings()
    if argv[:1] == ["bootstrap"]:
        asyncio.run(bootstrap(settings))
        return 0
    if argv[:1] == ["run"]:
        return asyncio.run(run(settings, extra=[]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
