"""The soak's knobs: environment variables (SOAK_*) or the matching command-line options, and the
settings the services get on top of their usual environment."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bench.common import ROOT
from bench.soak_chaos import FAULT_KINDS, ChaosSettings

RETRY_WALL_SECONDS = (0, 0.5, 1, 2, 5, 10, 20, 30, 30, 30, 30)
"""notify's retry delays in wall time (about 2.5 minutes in all): longer than any receiver fault, so
a delivery dead-lettered during the soak is a finding, not the schedule running out."""


@dataclass(frozen=True)
class SoakSettings:
    minutes: float = 20.0
    speed: float = 600.0
    """Shop time runs this many times faster than the clock (the demo's default)."""
    orders_per_minute: float = 600.0
    seed: int = 7
    chaos: ChaosSettings = field(default_factory=ChaosSettings)
    drain_seconds: float = 300.0
    give_up_seconds: float = 300.0
    """How long the shop, a gateway or a customer keeps retrying one thing before giving up."""
    out: Path = ROOT / "bench" / "results"
    workdir: Path = ROOT / ".local" / "soak"
    log_level: str = "WARNING"

    @property
    def orders_per_day(self) -> int:
        """Orders per shop-time day that make `orders_per_minute` in wall time."""
        return max(1, round(self.orders_per_minute * 1440 / self.speed))


OPTIONS: tuple[tuple[str, str, str, str], ...] = (
    # option, environment variable, default, what it sets
    ("--minutes", "SOAK_MINUTES", "20", "minutes of traffic and chaos"),
    ("--chaos-seconds", "SOAK_CHAOS_SECONDS", "60", "seconds between one fault's end and the next's start"),
    ("--faults", "SOAK_FAULTS", ",".join(FAULT_KINDS), "fault kinds to draw from, comma-separated"),
    ("--seed", "SOAK_SEED", "7", "seed of the shop's traffic and of the fault schedule"),
    ("--speed", "SOAK_SPEED", "600", "shop time runs this many times faster than the clock"),
    ("--orders-per-minute", "SOAK_ORDERS_PER_MINUTE", "600", "new orders a wall-clock minute"),
    ("--kafka-down", "SOAK_KAFKA_DOWN_SECONDS", "15", "seconds Kafka stays stopped"),
    ("--postgres-down", "SOAK_POSTGRES_DOWN_SECONDS", "3", "seconds PostgreSQL stays stopped"),
    ("--receiver-fault", "SOAK_RECEIVER_FAULT_SECONDS", "20", "seconds the endpoint answers 500 or hangs"),
    ("--drain-seconds", "SOAK_DRAIN_SECONDS", "300", "longest wait for the system to drain at the end"),
    ("--out", "SOAK_OUT", str(ROOT / "bench" / "results"), "where soak.md and soak.json go"),
    ("--log-level", "SOAK_SERVICE_LOG_LEVEL", "WARNING", "the services' log level (logs: .local/soak/logs)"),
)


def parse_args(argv: list[str], env: Mapping[str, str]) -> SoakSettings:
    """Each option's default comes from its environment variable (`make soak` passes them through)."""
    p = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description="The demo shop's traffic under a chaos loop, then checks from the outside "
        "(docs/reliability.md#soak-with-chaos-make-soak).",
    )
    for option, variable, fallback, what in OPTIONS:
        p.add_argument(
            option, default=env.get(variable) or fallback, help=f"{what} ({variable}, default %(default)s)"
        )
    a = p.parse_args(argv)
    kinds = tuple(k.strip() for k in a.faults.split(",") if k.strip())
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown or not kinds:
        p.error(f"--faults: unknown {sorted(unknown)}; choose from {', '.join(FAULT_KINDS)}")
    try:
        numbers = {
            k: float(getattr(a, k)) for k in ("minutes", "chaos_seconds", "speed", "orders_per_minute")
        }
        downs = {
            k: float(getattr(a, k))
            for k in ("kafka_down", "postgres_down", "receiver_fault", "drain_seconds")
        }
        seed = int(a.seed)
    except ValueError as exc:
        p.error(str(exc))
    if min(numbers.values()) <= 0 or min(downs.values()) < 0:
        p.error("durations, speed and rate must be positive")
    chaos = ChaosSettings(
        interval=numbers["chaos_seconds"],
        kinds=kinds,
        seed=seed,
        kafka_down=downs["kafka_down"],
        postgres_down=downs["postgres_down"],
        receiver_fault=downs["receiver_fault"],
    )
    return SoakSettings(
        minutes=numbers["minutes"],
        speed=numbers["speed"],
        orders_per_minute=numbers["orders_per_minute"],
        seed=seed,
        chaos=chaos,
        drain_seconds=downs["drain_seconds"],
        out=Path(a.out),
        log_level=a.log_level,
    )


def extra_env(s: SoakSettings, origin: datetime) -> dict[str, str]:
    env = {
        "CARELOOP_LOG_LEVEL": s.log_level,
        "NOTIFY_ALLOW_LOOPBACK": "true",
        "NOTIFY_TIMEOUT_SECONDS": "5",
        # Gauges refreshed every second: the final check compares them with their tables while timers
        # still fire, and a gauge read a while ago would trail the rows it counts.
        "NOTIFY_GAUGE_SECONDS": "1",
        "SLA_GAUGE_SECONDS": "1",
        "INTAKE_GAUGE_SECONDS": "1",
        "CARELOOP_OUTBOX_GAUGE_SECONDS": "1",
        # notify counts its retry delays in shop time
        "NOTIFY_RETRY_SCHEDULE_SECONDS": json.dumps([d * s.speed for d in RETRY_WALL_SECONDS]),
        "SURVEY_NPS_DELAY_DAYS": "1",
    }
    if s.speed != 1.0:
        env |= {"CARELOOP_TIME_FACTOR": f"{s.speed:g}", "CARELOOP_TIME_ORIGIN": origin.isoformat()}
    return env
