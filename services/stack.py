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
from pathlib import Path

import httpx

from runtime.db import Database
from runtime.migrations import RUNTIME_SQL, apply_migrations, load_migrations
from runtime.provision import ensure_service_schema, ensure_topics
from runtime.settings import SERVICE_PORTS, Settings
from services import SERVICE_NAMES

PORT_BASE_ENV = "CARELOOP_PORT_BASE"
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


def service_ports() -> dict[str, int]:
    """Each service's HTTP port: 8001-8004, or all moved together by CARELOOP_PORT_BASE (base+1 … base+4),
    so a second stack (a test) can run beside `make run`."""
    base = int(os.environ.get(PORT_BASE_ENV, "8000"))
    return {name: base + SERVICE_PORTS[name] - 8000 for name in SERVICE_NAMES}


def service_urls(host: str) -> dict[str, str]:
    return {name: f"http://{host}:{port}" for name, port in service_ports().items()}


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None
    prefixed: bool = True
    """False for a child that draws its own screen (the demo's live summary)."""
    log_path: Path | None = None
    """Where its output goes instead of the terminal (the demo keeps the screen for its summary)."""
    essential: bool = True
    """If it exits, everything stops; a non-essential child (the demo's Prometheus) may go alone."""


def service_child(name: str, host: str) -> Child:
    ports = service_ports()
    env = {"CARELOOP_HTTP_PORT": str(ports[name])}
    if name == "survey" and "CARELOOP_PUBLIC_BASE_URL" not in os.environ:
        env["CARELOOP_PUBLIC_BASE_URL"] = f"http://{host}:{ports['survey']}"
    return Child(name, [sys.executable, "-m", f"services.{name}"], env)


async def _pump(child: Child, colour: str) -> None:
    assert child.process is not None
    assert child.process.stdout is not None
    if child.log_path is not None:
        child.log_path.parent.mkdir(parents=True, exist_ok=True)
        with child.log_path.open("wb") as log:  # this run's output only
            async for line in child.process.stdout:
                log.write(line)
                log.flush()
        return
    prefix = f"{colour}{child.name:>8} |{RESET} " if sys.stdout.isatty() else f"{child.name:>8} | "
    if not child.prefixed:
        prefix = ""
    async for line in child.process.stdout:
        sys.stdout.write(prefix + line.decode(errors="replace"))
        sys.stdout.flush()


async def _wait_ready(settings: Settings, timeout: float = 90.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        for name, base_url in service_urls(settings.http_host).items():
            url = f"{base_url}/health/ready"
            while True:
                try:
                    if (await client.get(url)).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"{name} did not become ready at {url}")
                await asyncio.sleep(0.5)


async def run(settings: Settings, extra: list[Child], service_logs: Path | None = None) -> int:
    """`service_logs`: a directory for the services' output (<name>.log) instead of the terminal."""
    await bootstrap(settings)
    children = [service_child(n, settings.http_host) for n in SERVICE_NAMES]
    if service_logs is not None:
        for child in children:
            child.log_path = service_logs / f"{child.name}.log"
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
        for name, base_url in service_urls(settings.http_host).items():
            print(f"  {name:>7}  {base_url}  (/health/ready, /metrics)")
        if service_logs is not None:
            print(f"careloop: service logs in {service_logs}/<service>.log")
        for i, child in enumerate(extra):
            pumps.append(await start(child, COLOURS[(len(children) + i) % len(COLOURS)]))
        children += extra
        exited = asyncio.create_task(_first_exit(children))
        await asyncio.wait([exited, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        if exited.done():
            where = f" (see {service_logs})" if service_logs is not None else ""
            print(f"careloop: {exited.result()} exited{where}; stopping everything", file=sys.stderr)
            return 1
        return 0
    finally:
        print("careloop: stopping…")
        await _stop_all(children)
        for pump in pumps:
            pump.cancel()


async def _first_exit(children: list[Child]) -> str:
    waits = {asyncio.create_task(c.process.wait()): c.name for c in children if c.process and c.essential}
    done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    return waits[done.pop()]


async def _stop_all(children: list[Child], grace: float = 25.0) -> None:
    # The demo first, to the end (it feeds the services and unsubscribes from notify), then the services.
    extras = [c for c in children if c.name not in SERVICE_NAMES]
    services = [c for c in children if c.name in SERVICE_NAMES]
    for group in (extras, services):
        await _stop_group(group, grace)


async def _stop_group(children: list[Child], grace: float) -> None:
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
