"""`make run`: the whole stack in the foreground, with the demo shop joining once the services are ready.

`DEMO_SPEED=600` (the default) runs domain time 600 times faster than the wall clock in every process,
from one shared origin: a shop's week in about 17 minutes. `DEMO_SPEED=1` runs in real time.

Each run starts the demo shop afresh (demo/slate.py), unless `DEMO_KEEP_DATA=1`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from demo.config import DemoSettings
from demo.prometheus import prometheus_child
from demo.slate import clear_shop
from runtime.settings import Settings
from services import SERVICE_NAMES
from tools.stack import Child, run, say, service_urls

DEFAULT_SPEED = 600.0
LOCAL_ADMIN_TOKEN = "careloop-local-admin"  # noqa: S105 (a local demo's, documented as such)
"""The operator API's token under `make run` (README), never for anything but a local demo."""


def demo_environment(env: Mapping[str, str], now: datetime, *, tty: bool) -> dict[str, str]:
    """What the services and the demo process get on top of the environment, so they agree on time
    and the demo's loopback receiver is allowed (notify refuses loopback URLs by default)."""
    speed = float(env.get("DEMO_SPEED") or DEFAULT_SPEED)
    if speed <= 0:
        raise ValueError("DEMO_SPEED must be positive")
    out = {
        "NOTIFY_ALLOW_LOOPBACK": "true",
        # Invitations a day after delivery (not a week), gauges every few seconds: the demo is short.
        "SURVEY_NPS_DELAY_DAYS": env.get("SURVEY_NPS_DELAY_DAYS", "1"),
        "SURVEY_SCORE_GAUGE_SECONDS": env.get("SURVEY_SCORE_GAUGE_SECONDS", "5"),
        # The live summary is the screen; services say only what needs attention.
        "CARELOOP_LOG_LEVEL": env.get("CARELOOP_LOG_LEVEL", "WARNING"),
        "DEMO_SUMMARY_CLEAR_SCREEN": env.get("DEMO_SUMMARY_CLEAR_SCREEN", "true" if tty else "false"),
        # The operator API's credential (intake /v1/admin/*). LOCAL_ADMIN_TOKEN is for `make run` on
        # one's own machine only: a deployment sets its own secret CARELOOP_ADMIN_TOKEN.
        "CARELOOP_ADMIN_TOKEN": env.get("CARELOOP_ADMIN_TOKEN") or LOCAL_ADMIN_TOKEN,
    }
    if speed != 1.0:
        out["CARELOOP_TIME_FACTOR"] = f"{speed:g}"
        out["CARELOOP_TIME_ORIGIN"] = env.get("CARELOOP_TIME_ORIGIN") or now.isoformat()
    return out


def local_dir(env: Mapping[str, str]) -> Path:
    """Where the run keeps its files: .local, or CARELOOP_LOCAL_DIR as for deploy/local/*.sh (a second
    `make run` beside the first, a test)."""
    return Path(env.get("CARELOOP_LOCAL_DIR") or ".local")


def service_logs(env: Mapping[str, str]) -> Path | None:
    """The services write to .local/logs/<name>.log (the screen is the summary's), unless
    DEMO_SERVICE_LOGS=terminal interleaves them on the terminal, prefixed."""
    where = env.get("DEMO_SERVICE_LOGS") or str(local_dir(env) / "logs")
    return None if where == "terminal" else Path(where)


def demo_prometheus(settings: Settings, logs: Path | None) -> tuple[Child | None, str]:
    """The Prometheus child (if installed, wanted and its port free) and what the summary says of it."""
    if os.environ.get("DEMO_PROMETHEUS", "on") == "off":
        return None, "off (DEMO_PROMETHEUS=off)"
    host = settings.http_host
    receiver = f"{host}:{DemoSettings().receiver_port}"
    services = {name: url.split("//", 1)[1] for name, url in service_urls(host).items()}
    port = int(os.environ.get("DEMO_PROMETHEUS_PORT", "9090"))
    workdir = local_dir(os.environ) / "demo-prometheus"
    child, where = prometheus_child(workdir, services, receiver, host, port)
    if child is not None and logs is not None:
        child.log_path = logs / "prometheus.log"
    return child, where


async def fresh_start(settings: Settings, demo: DemoSettings) -> str:
    """Delete the demo shop's rows of earlier runs (unless DEMO_KEEP_DATA=1): what was done, in a line."""
    if demo.keep_data:
        return f"careloop: the data of {demo.shop_id}'s earlier runs is kept (DEMO_KEEP_DATA=1)"
    schemas = [settings.for_service(name).db_schema for name in SERVICE_NAMES]
    deleted = await clear_shop(settings.database_url.get_secret_value(), schemas, demo.shop_id)
    rows = sum(deleted.values())
    return (
        f"careloop: a clean slate for {demo.shop_id}: {rows} {'row' if rows == 1 else 'rows'} of earlier "
        "runs deleted (DEMO_KEEP_DATA=1 keeps them)"
    )


def main() -> int:
    os.environ.update(demo_environment(os.environ, datetime.now(UTC), tty=sys.stdout.isatty()))
    settings = Settings()
    try:
        # Before the services start: none of them holds a row of the shop in memory.
        say(asyncio.run(fresh_start(settings, DemoSettings())))
    except (OSError, asyncpg.PostgresError) as exc:
        say(f"careloop: could not clear the demo shop's data of earlier runs: {exc}")
        return 1
    except KeyboardInterrupt:  # Ctrl-C this early: the transaction is rolled back, nothing runs yet
        return 130
    logs = service_logs(os.environ)
    prometheus, os.environ["DEMO_PROMETHEUS_URL"] = demo_prometheus(settings, logs)
    demo = Child("demo", [sys.executable, "-m", "demo"], prefixed=False)
    extra = [prometheus, demo] if prometheus is not None else [demo]
    return asyncio.run(run(settings, extra=extra, service_logs=logs))


if __name__ == "__main__":
    sys.exit(main())
