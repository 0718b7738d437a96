"""`make soak`: the demo shop's traffic at a high rate for a while, under a chaos loop, then a check
from the outside that nothing was lost or doubled.

    .venv/bin/python -m bench.soak                       20 minutes, a fault every 60 s
    SOAK_MINUTES=3 SOAK_CHAOS_SECONDS=15 make soak       a short run that still sees every fault kind

Everything runs on a private Kafka broker and PostgreSQL cluster under .local/soak/ (free ports;
the shared instances other people test against are never touched), with the four services as OS
processes. Faults: a service SIGKILLed and restarted, Kafka stopped and started, PostgreSQL stopped
and started, the shop's webhook endpoint answering 500 or hanging. After the time is up the traffic
stops, the system drains and the checks run; bench/results/soak.md and .json say what was found.
Exit status: 0 if every check passed, 1 if any failed, 2 if the soak could not run. Every process
it started is stopped, on Ctrl-C too; the private servers' directories are removed (the services'
and servers' logs stay in .local/soak/logs/).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import shutil
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from bench.common import DEMO_KEY, DEMO_SHOP, SERVICES, SHOPS_FILE
from bench.facts import git_commit, machine
from bench.soak_chaos import Chaos
from bench.soak_collect import wait_sessions_gone
from bench.soak_infra import (
    PrivateKafka,
    PrivatePostgres,
    Service,
    clean_up_after,
    service_env,
    services_on,
)
from bench.soak_metrics import Counts, baseline
from bench.soak_observe import drain, observe, report_period
from bench.soak_receiver import SoakReceiver
from bench.soak_settings import SoakSettings, extra_env, parse_args
from bench.soak_traffic import Produced, ShopTraffic, SoakCustomers
from bench.soak_verify import Observations, SoakReport, evaluate, render, webhook_figures
from demo.agents import Agents
from demo.app import first_order_no
from demo.shop import ShopTimeline
from runtime.clock import AcceleratedClock, Clock, SystemClock
from runtime.settings import Settings
from tools.stack import bootstrap

log = logging.getLogger("bench.soak")


async def subscribe(notify: Service, receiver: SoakReceiver) -> None:
    async with httpx.AsyncClient(base_url=notify.url, timeout=30) as client:
        created = await client.post(
            "/v1/endpoints",
            json={"url": receiver.url, "description": "soak receiver", "event_types": ["*"]},
            headers={"Authorization": f"Bearer {DEMO_KEY}"},
        )
        created.raise_for_status()
        receiver.use_secret(created.json()["secret"])


async def progress(produced: Produced, receiver: SoakReceiver, started: float) -> None:
    while True:
        await asyncio.sleep(30)
        log.warning(
            "soak: +%.0fs: %d order events, %d contacts, %d answers; %d webhook ids acknowledged",
            time.monotonic() - started,
            len(produced.order_events),
            len(produced.contacts),
            len(produced.answers),
            len(receiver.stats.acknowledged),
        )


async def run_traffic(
    s: SoakSettings,
    services: dict[str, Service],
    kafka: PrivateKafka,
    postgres: PrivatePostgres,
    receiver: SoakReceiver,
    admin: Settings,
    origin: datetime,
    produced: Produced,
    baselines: dict[str, dict[str, Counts]],
) -> Chaos:
    """The traffic and the chaos loop for `s.minutes`; returns once the traffic has stopped and every
    fault is undone."""
    clock: Clock = AcceleratedClock(origin, s.speed) if s.speed != 1.0 else SystemClock()
    timeline = ShopTimeline(
        random.Random(s.seed), DEMO_SHOP, clock.now(), s.orders_per_day, first_order_no=first_order_no(origin)
    )
    auth = {"Authorization": f"Bearer {DEMO_KEY}"}

    async def after_kill(name: str) -> None:
        await wait_sessions_gone(postgres.url, admin.for_service(name).db_role)
        baselines[name] = await baseline(postgres.url, name)

    started = time.monotonic()
    chaos = Chaos(s.chaos, services, kafka, postgres, receiver, after_kill, started)
    stop = asyncio.Event()
    async with (
        httpx.AsyncClient(base_url=services["intake"].url, headers=auth, timeout=15) as intake,
        httpx.AsyncClient(timeout=15) as pages,
    ):
        traffic = ShopTraffic(timeline, clock, kafka.bootstrap, intake, produced, s.give_up_seconds)
        customers = SoakCustomers(receiver.invitations, pages, clock, s.seed, produced, s.give_up_seconds)
        agents = Agents(intake, clock, s.seed, 0.5)
        workers = [asyncio.create_task(traffic.run(stop)), asyncio.create_task(customers.run(stop))]
        helpers = [
            asyncio.create_task(agents.run()),
            asyncio.create_task(progress(produced, receiver, started)),
        ]
        until = started + s.minutes * 60
        faults = asyncio.create_task(chaos.run(until))
        time_up = asyncio.create_task(asyncio.sleep(max(0.0, until - time.monotonic())))
        try:
            waiting: set[asyncio.Task[Any]] = {faults, time_up, *workers}
            while not (faults.done() and time_up.done()):
                done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # a fault that could not be undone, or a broken generator, ends the soak
                    if task in workers:
                        raise RuntimeError("the traffic stopped before its time")
            stop.set()  # what was released is still delivered: the final check expects all of it
            await asyncio.gather(*workers)
        finally:
            # On an error or Ctrl-C nothing more is awaited: the shutdown must not wait on retries.
            everything = (*workers, *helpers, faults, time_up)
            for task in everything:
                task.cancel()
            await asyncio.gather(*everything, return_exceptions=True)
    produced.agent_actions.update(agents.stats)
    produced.invitations = customers.invited
    log.warning("soak: traffic stopped after %.0fs", time.monotonic() - started)
    return chaos


async def soak(s: SoakSettings) -> SoakReport:
    logs = s.workdir / "logs"
    for stale in sorted(s.workdir.glob("run-*")):
        log.warning("soak: stopping what an interrupted soak left in %s", stale)
        await clean_up_after(stale, s.workdir / "stale-clean-up.log")
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    run_dir = s.workdir / datetime.now(UTC).strftime("run-%Y%m%dT%H%M%S")
    kafka = PrivateKafka(run_dir / "kafka", logs / "infra-scripts.log")
    postgres = PrivatePostgres(run_dir / "pg", logs / "infra-scripts.log")
    services = services_on(SERVICES, logs, run_dir)
    receiver = SoakReceiver()
    started_at = datetime.now(UTC)
    try:
        log.warning(
            "soak: starting a private Kafka (port %d) and PostgreSQL (port %d)", kafka.port, postgres.port
        )
        await asyncio.gather(kafka.start(), postgres.start())
        admin = Settings().model_copy(
            update={
                "kafka_bootstrap_servers": kafka.bootstrap,
                "database_url": SecretStr(postgres.url),
                "topic_prefix": "",
                "schema_prefix": "",
                "shops_file": SHOPS_FILE,
            }
        )
        await bootstrap(admin)
        origin = datetime.now(UTC)
        for service in services.values():
            service.env = service_env(
                service.name,
                service.port,
                kafka.bootstrap,
                postgres.url,
                services["survey"].url,
                extra_env(s, origin),
            )
        await asyncio.gather(*(service.start() for service in services.values()))
        await receiver.start()
        await subscribe(services["notify"], receiver)
        log.warning(
            "soak: services ready; %g minutes of traffic (%d orders per shop day at %gx)",
            s.minutes,
            s.orders_per_day,
            s.speed,
        )
        produced = Produced()
        baselines: dict[str, dict[str, Counts]] = {}
        traffic_began = time.monotonic()
        chaos = await run_traffic(s, services, kafka, postgres, receiver, admin, origin, produced, baselines)
        traffic_seconds = time.monotonic() - traffic_began
        drained = await drain(postgres.url, kafka.bootstrap, s.drain_seconds)
        log.warning("soak: %s; reading everything back", drained.note)
        clock_now = AcceleratedClock(origin, s.speed).now() if s.speed != 1.0 else datetime.now(UTC)
        observations, read_back = await observe(
            produced=produced,
            receiver=receiver,
            services=services,
            database_url=postgres.url,
            bootstrap=kafka.bootstrap,
            baselines=baselines,
            api_key=DEMO_KEY,
            period=report_period(origin, clock_now),
            drained=drained,
            settle_seconds=max(60.0, s.drain_seconds / 2),
        )
        return build_report(
            s,
            started_at,
            traffic_seconds,
            drained.seconds,
            chaos,
            produced,
            receiver,
            observations,
            read_back,
        )
    finally:
        await shut_down(services, receiver, kafka, postgres, logs, run_dir)


def build_report(
    s: SoakSettings,
    started_at: datetime,
    traffic_seconds: float,
    drain_seconds: float,
    chaos: Chaos,
    produced: Produced,
    receiver: SoakReceiver,
    observations: Observations,
    read_back: dict[str, Any],
) -> SoakReport:
    commit = git_commit()
    facts = machine()
    hooks = webhook_figures(observations)
    hooks |= {
        "answered_500": receiver.stats.answered_500,
        "hung": receiver.stats.hung,
        "bad_signature": receiver.stats.bad_signature,
        "requests": receiver.stats.requests,
    }
    by_type = Counter(produced.order_events.values())
    report = SoakReport(
        meta={
            "started": started_at.isoformat(timespec="seconds"),
            "commit": (commit["commit"] or "?")[:10]
            + (" (uncommitted changes)" if commit["dirty_paths"] else ""),
            "minutes": round(traffic_seconds / 60, 1),
            "speed": f"{s.speed:g}",
            "orders_per_minute": f"{s.orders_per_minute:g}",
            "chaos_interval": f"{s.chaos.interval:g}",
            "seed": s.seed,
            "drain_seconds": round(drain_seconds),
            "machine": f"{facts['cpu_model']}, {facts['cores']} cores, {facts['memory_gib']} GiB",
        },
        faults=chaos.log.by_kind(),
        fault_log=chaos.log.as_json(),
        produced={
            "orders": by_type.get("order.created", 0),
            "order events": len(produced.order_events),
            "order events by type": dict(sorted(by_type.items())),
            "contacts sent (gateway repeats included)": produced.contacts_sent,
            "contacts accepted (distinct messages)": len(produced.contacts),
            "survey answers accepted": len(produced.answers),
            "survey answers by kind": dict(sorted(Counter(produced.answers.values()).items())),
            "survey invitations the customers received": produced.invitations,
            "agents' actions (refused: intake answered an error)": dict(
                sorted(produced.agent_actions.items())
            ),
            "refused with a 4xx": dict(sorted(produced.refused.items())),
            "retries": dict(sorted(produced.retries.items())),
            "given up": dict(sorted(produced.gave_up.items())),
            **read_back,
        },
        webhooks=hooks,
    )
    report.checks = evaluate(observations)
    return report


async def shut_down(
    services: dict[str, Service],
    receiver: SoakReceiver,
    kafka: PrivateKafka,
    postgres: PrivatePostgres,
    logs: Path,
    run_dir: Path,
) -> None:
    """Every step runs whatever the one before did: services first (while Kafka and Postgres are
    there for a clean shutdown), then the servers, then their directories."""
    log.warning("soak: stopping everything")

    async def step(what: str, action: Any) -> None:
        try:
            await action
        except Exception as exc:
            log.error("soak: %s failed: %r", what, exc)

    await step("stopping the services", asyncio.gather(*(sv.stop() for sv in services.values())))
    await step("stopping the receiver", receiver.stop())
    await step("stopping Kafka", kafka.stop())
    await step("stopping PostgreSQL", postgres.stop())
    for server_log, name in ((kafka.server_log, "kafka.log"), (postgres.server_log, "postgres.log")):
        with contextlib.suppress(OSError):
            shutil.copy(server_log, logs / name)
    shutil.rmtree(run_dir, ignore_errors=True)


def write(report: SoakReport, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "soak.md", out / "soak.json"
    md.write_text(render(report))
    js.write_text(json.dumps(report.as_json(), indent=2) + "\n")
    return md, js


async def main_async(s: SoakSettings) -> int:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    report = await soak(s)
    md, js = write(report, s.out)
    for check in report.checks:
        if not check.passed:
            log.error("soak: FAIL %s: %s", check.name, check.figures)
    log.warning("soak: %s; report in %s and %s", "PASS" if report.passed else "FAIL", md, js)
    return 0 if report.passed else 1


def main(argv: list[str]) -> int:
    settings = parse_args(argv, os.environ)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("aiokafka", "faststream", "demo", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    try:
        return asyncio.run(main_async(settings))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log.error("soak: interrupted; everything it started has been stopped")
        return 2
    except Exception as exc:
        log.exception("soak: could not run: %s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
