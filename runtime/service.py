"""ServiceRuntime: what each service plugs its consumers, background sweeps and HTTP API into."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from faststream import AckPolicy
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import ASGIApp, Receive, Scope, Send
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage

from runtime.audit import AuditTrail
from runtime.clock import Clock, clock_from_settings
from runtime.consumer import Consumer, EventProcessor
from runtime.db import Database
from runtime.erasure import guarded
from runtime.holds import Holds
from runtime.kafka import KafkaOutput, make_broker
from runtime.lag import LagMonitor
from runtime.metrics import METRICS_CONTENT_TYPE, configure_shop_labels, render
from runtime.migrations import RUNTIME_SQL, apply_migrations, load_migrations
from runtime.outbox import OutboxRelay
from runtime.settings import Settings
from runtime.shop_state import ShopFollower
from runtime.shops import Shop, ShopRegistry
from schemas.topics import Topic

log = logging.getLogger(__name__)

Sweep = Callable[[], Coroutine[Any, Any, None]]


async def _raw_records(message: StreamMessage[Any]) -> None:
    """Skip FastStream's body decoding: the runtime validates the raw bytes itself."""
    return


class ServiceRuntime:
    def __init__(self, settings: Settings, migrations: Path | None = None) -> None:
        self.settings = settings
        self.db = Database(settings)
        self.broker = make_broker(settings)
        self.output = KafkaOutput(settings)
        self.processor = EventProcessor(
            self.db, self.output, settings.service_name, settings.handler_attempts
        )
        self.relay = OutboxRelay(
            self.db,
            self.output,
            settings.service_name,
            settings.outbox_batch_size,
            settings.outbox_poll_seconds,
        )
        self.shops = ShopRegistry.from_file(settings.shops_file)
        """The file's shops, then what shops.state said (runtime/shop_state.py): every change of a shop
        reaches the routes and handlers through this one object."""
        self.holds = Holds(
            self.db, self.shops, self.processor, settings.service_name, settings.handler_attempts
        )
        self.processor.gate = self.holds
        self.shop_follower = ShopFollower(settings, self.db, self.shops, self.output)
        self.shop_follower.on_change.append(self._shop_changed)
        self.audit = AuditTrail.of(settings)
        """Where the service's audit records go (runtime/audit.py)."""
        self._migrations = load_migrations(RUNTIME_SQL, "runtime")
        if migrations is not None:
            self._migrations += load_migrations(migrations, settings.service_name)
        self._loops: list[tuple[str, Sweep]] = [
            ("outbox-relay", self.relay.run),
            ("shops-state", self.shop_follower.run),
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self.running = False
        """True between the end of start-up (consumers and loops started) and the start of shutdown."""
        self._stopping = False
        self._subscriptions: list[tuple[str, str]] = []
        self.consumers: dict[str, Consumer] = {}
        """Every consumer plugged in, by name."""
        self.lag = LagMonitor(settings.kafka_bootstrap_servers, self._subscriptions, settings.service_name)
        self.every("consumer-lag", 5.0, self._measure_lag)
        self.every("outbox-gauges", settings.outbox_gauge_seconds, self.relay.measure_backlog)
        self.every("processed-events-cleanup", 3600.0, self._forget_old_event_ids)
        self.every("held-events", settings.held_release_seconds, self._release_held)
        configure_shop_labels(settings.metrics_shop_label_limit, (shop.id for shop in self.shops))
        self.clock: Clock = clock_from_settings(settings.time_factor, settings.time_origin)
        """Domain time; tests replace it with a ManualClock before the app starts."""
        self.api: ASGIApp | None = None
        """The service's own HTTP API (a FastAPI app), served for every path but health/metrics."""

    # -- what services plug in -------------------------------------------------------------
    def consume(self, topic: Topic, consumer: Consumer) -> None:
        """Subscribe `consumer` to `topic`: batches, committed after the effects (NACK on failure).

        Each consumer has its own group, so two consumers of one topic each see every partition.
        Events about a customer the service erased are applied without their personal fields
        (runtime/erasure.py `guarded`)."""
        consumer = guarded(consumer, self.settings.service_name)
        processor = self.processor
        self.consumers[consumer.name] = consumer
        group_id = f"{self.settings.consumer_group}.{consumer.name}"
        self._subscriptions.append((group_id, self.settings.topic(topic.name)))
        subscriber = self.broker.subscriber(
            self.settings.topic(topic.name),
            group_id=group_id,
            batch=True,
            max_records=self.settings.consumer_max_records,
            batch_timeout_ms=self.settings.consumer_wait_ms,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=_raw_records,
            title=f"{self.settings.service_name}:{consumer.name}",
        )

        @subscriber
        async def on_batch(body: Any, message: KafkaMessage) -> None:
            records = (
                message.raw_message if isinstance(message.raw_message, tuple) else (message.raw_message,)
            )
            await processor.process_batch(consumer, records)

    def every(self, name: str, seconds: float, sweep: Sweep) -> None:
        """Run `sweep` periodically; one failing run is logged and never stops the loop."""

        async def loop() -> None:
            while True:
                try:
                    await sweep()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("%s: sweep %s failed", self.settings.service_name, name)
                await asyncio.sleep(seconds)

        self._loops.append((name, loop))

    def background(self, name: str, run: Sweep) -> None:
        """A long-running loop of the service's own (it handles its own waiting)."""
        self._loops.append((name, run))

    async def _measure_lag(self) -> None:
        await self.lag.measure()

    async def _shop_changed(self, shop: Shop) -> None:
        if not shop.suspended:
            await self.holds.release(self.consumers.values(), shop.id)

    async def _release_held(self) -> None:
        await self.holds.sweep(self.consumers)

    async def _forget_old_event_ids(self) -> None:
        # Kafka keeps events 14 days: an id older than the retention can never be redelivered.
        async with self.db.pool.acquire() as conn:
            await conn.execute("DELETE FROM processed_events WHERE processed_at < now() - interval '15 days'")

    def topic(self, topic: Topic) -> str:
        return self.settings.topic(topic.name)

    # -- lifecycle -------------------------------------------------------------------------
    async def start_storage(self) -> None:
        await self.db.open()
        async with self.db.pool.acquire() as conn:
            await apply_migrations(conn, self.settings.db_schema, self._migrations)
        await self.shop_follower.load()

    async def start_loops(self) -> None:
        # FastStream may run after-startup hooks after a quick shutdown has begun: start nothing then.
        if self._stopping:
            return
        for name, run in self._loops:
            self._tasks.append(asyncio.create_task(run(), name=f"{self.settings.service_name}:{name}"))
        self.running = True

    async def stop_loops(self) -> None:
        self._stopping = True
        self.running = False
        for task in self._tasks:
            task.cancel()
        # A loop that ignores cancellation must not hold the whole shutdown hostage.
        _, stuck = await asyncio.wait(self._tasks, timeout=15.0) if self._tasks else (set(), set())
        for task in stuck:
            log.error("%s: loop %s did not stop within 15 s", self.settings.service_name, task.get_name())
        self._tasks.clear()
        await self.lag.close()

    async def ready(self) -> dict[str, bool]:
        db_ok, kafka_ok = await asyncio.gather(self.db.ping(), self.broker.ping(timeout=2.0))
        return {"postgres": db_ok, "kafka": bool(kafka_ok)}

    def asgi(self) -> ServiceApp:
        return ServiceApp(self)


class ServiceApp(AsgiFastStream):
    """The process's ASGI app: FastStream lifespan + health/metrics, and the service's own HTTP API
    (if any) for every other path."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime

        @get(include_in_schema=False)
        async def live(scope: Scope) -> AsgiResponse:
            return AsgiResponse(b'{"status":"live"}', 200, {"content-type": "application/json"})

        @get(include_in_schema=False)
        async def ready(scope: Scope) -> AsgiResponse:
            checks = await runtime.ready()
            status = 200 if runtime.running and all(checks.values()) else 503
            body = {"status": "ready" if status == 200 else "not ready", "checks": checks}
            return AsgiResponse(json.dumps(body).encode(), status, {"content-type": "application/json"})

        @get(include_in_schema=False)
        async def metrics(scope: Scope) -> AsgiResponse:
            return AsgiResponse(render(), 200, {"content-type": METRICS_CONTENT_TYPE})

        super().__init__(
            runtime.broker,
            asgi_routes=[("/health/live", live), ("/health/ready", ready), ("/metrics", metrics)],
            on_startup=[runtime.output.start, runtime.start_storage],
            after_startup=[runtime.start_loops],
            on_shutdown=[runtime.stop_loops],
            after_shutdown=[runtime.db.close, runtime.output.stop],
            asyncapi_path="/asyncapi",
        )

    async def not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.runtime.api is not None and scope["type"] == "http":
            await self.runtime.api(scope, receive, send)
            return
        await super().not_found(scope, receive, send)


def serve(app: ServiceApp, default_port: int) -> None:
    """Run under uvicorn until SIGINT/SIGTERM; shutdown drains consumers and loops first. The port is
    CARELOOP_HTTP_PORT, else the service's own default."""
    import uvicorn

    settings = app.runtime.settings
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port if settings.http_port is not None else default_port,
        lifespan="on",
        # the C parsers and event loop, named so a missing one fails at start instead of falling back
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )
    uvicorn.Server(config).run()
