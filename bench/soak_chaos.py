"""The chaos loop: every interval one fault, drawn with a fixed seed. Faults come in shuffled rounds
(every kind once per round, in a random order), so even a short soak sees each kind.

    kill       SIGKILL a random service's process group, then start it again
    kafka      stop the (private) broker, keep it down a while, start it
    postgres   stop the (private) cluster, keep it down a few seconds, start it
    http500    the shop's webhook endpoint answers 500 for a while
    hang       the shop's webhook endpoint accepts requests and never answers, for a while
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.soak_infra import PrivateKafka, PrivatePostgres, Service
from bench.soak_receiver import SoakReceiver

log = logging.getLogger("bench.soak")

FAULT_KINDS = ("kill", "kafka", "postgres", "http500", "hang")


@dataclass(frozen=True)
class ChaosSettings:
    interval: float = 60.0
    """Seconds from the end of one fault to the start of the next (and before the first)."""
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 7
    kafka_down: float = 15.0
    postgres_down: float = 3.0
    receiver_fault: float = 20.0


@dataclass
class FaultRecord:
    kind: str
    target: str
    at: float
    """Seconds since the soak's traffic began."""
    seconds: float = 0.0
    error: str | None = None


@dataclass
class ChaosLog:
    faults: list[FaultRecord] = field(default_factory=list)

    def by_kind(self) -> dict[str, int]:
        counted = Counter(f.kind for f in self.faults if f.error is None)
        return {kind: counted.get(kind, 0) for kind in FAULT_KINDS}

    def as_json(self) -> list[dict[str, Any]]:
        return [
            {"kind": f.kind, "target": f.target, "at_s": round(f.at, 1), "seconds": round(f.seconds, 1)}
            | ({"error": f.error} if f.error else {})
            for f in self.faults
        ]


def fault_schedule(rng: random.Random, kinds: tuple[str, ...]) -> Iterator[str]:
    """Endless shuffled rounds of `kinds`."""
    while True:
        round_ = list(kinds)
        rng.shuffle(round_)
        yield from round_


class Chaos:
    def __init__(
        self,
        settings: ChaosSettings,
        services: Mapping[str, Service],
        kafka: PrivateKafka,
        postgres: PrivatePostgres,
        receiver: SoakReceiver,
        after_kill: Callable[[str], Awaitable[None]],
        started: float,
    ) -> None:
        """`after_kill(service)` runs once the killed process and its database sessions are gone,
        before the restart (the soak notes that service's table counts there)."""
        self._settings = settings
        self._services = services
        self._kafka = kafka
        self._postgres = postgres
        self._receiver = receiver
        self._after_kill = after_kill
        self._started = started
        self._rng = random.Random(settings.seed)
        self.log = ChaosLog()

    async def run(self, until: float) -> None:
        """Faults until the monotonic instant `until`; a fault under way is always finished (the
        system is whole again when this returns). A fault that cannot be undone raises."""
        schedule = fault_schedule(self._rng, self._settings.kinds)
        while time.monotonic() + self._settings.interval < until:
            await asyncio.sleep(self._settings.interval)
            await self.inject(next(schedule))

    async def inject(self, kind: str) -> None:
        started = time.monotonic()
        record = FaultRecord(kind, "", started - self._started)
        self.log.faults.append(record)
        log.warning("soak: fault %s at +%.0fs", kind, record.at)
        try:
            if kind == "kill":
                record.target = await self._kill()
            elif kind == "kafka":
                record.target = "kafka"
                await self._kafka.stop()
                await asyncio.sleep(self._settings.kafka_down)
                await self._kafka.start()
            elif kind == "postgres":
                record.target = "postgres"
                await self._postgres.stop()
                await asyncio.sleep(self._settings.postgres_down)
                await self._postgres.start()
            elif kind in ("http500", "hang"):
                record.target = "receiver"
                self._receiver.mode = "fail" if kind == "http500" else "hang"
                try:
                    await asyncio.sleep(self._settings.receiver_fault)
                finally:
                    self._receiver.mode = "ok"
            else:
                raise ValueError(f"unknown fault kind {kind!r}")
        except Exception as exc:
            record.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            record.seconds = time.monotonic() - started
        log.warning("soak: fault %s (%s) undone after %.0fs", kind, record.target, record.seconds)

    async def _kill(self) -> str:
        name = self._rng.choice(sorted(self._services))
        service = self._services[name]
        await service.kill()
        await self._after_kill(name)
        await service.start()
        return name
