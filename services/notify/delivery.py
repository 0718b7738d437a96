"""The delivery worker: claims due deliveries (SKIP LOCKED, per-order ordering) as far as each
endpoint's breaker, rate limit and free slots allow, posts them, and hands each result to the recorder
(recorder.py), which records what the outcome policy (domain/outcome.py) decides.

Claims are leases in wall time: a worker that dies mid-attempt leaves its rows 'delivering' until the
lease ends, then any instance takes them over and sends them again with the same webhook-id (which
is what the receiver deduplicates on). Attempts run as independent tasks, so a hanging endpoint only
ever occupies its own slots.

Round trips are what a delivery costs (the machine's CPU goes to them, not to Python): a claim round
is one query for the ready heads and their endpoints plus one claiming UPDATE, and the successes that
finish while one batch is being recorded are recorded together in the next statement.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from runtime.aio import wait_event
from runtime.db import Database
from runtime.listen import Listener, listening
from services.notify.context import Context
from services.notify.domain.breaker import allowed_in_flight
from services.notify.domain.queue import QueuedDelivery, choose, ready
from services.notify.domain.ratelimit import TokenBucket
from services.notify.domain.signing import active_secrets, webhook_headers
from services.notify.egress import EgressClient, post_webhook
from services.notify.metrics import ATTEMPT_SECONDS, IN_FLIGHT
from services.notify.recorder import AttemptRecorder
from services.notify.repository import attempts
from services.notify.repository.attempts import ClaimedDelivery
from services.notify.repository.deliveries import WAKE_CHANNEL
from services.notify.repository.endpoints import Endpoint

log = logging.getLogger(__name__)


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        ctx: Context,
        *,
        wall_seconds: Callable[[], float] = time.time,
        unit_random: Callable[[], float] = random.random,
    ) -> None:
        self._db = db
        self._config = ctx.config
        self._now = ctx.now
        # webhook-timestamp is for the receiver's replay window, compared with its wall clock,
        # so it is wall time even when domain time is simulated or accelerated.
        self._wall_seconds = wall_seconds
        self._breaker = ctx.config.outcome_policy().breaker
        self._in_flight: dict[str, int] = defaultdict(int)
        self._buckets: dict[str, TokenBucket] = {}
        self._tasks: dict[asyncio.Task[None], ClaimedDelivery] = {}
        """Every attempt task until it is recorded (and handed back at shutdown if it was not)."""
        self._posting = 0
        """Attempts holding a slot: from the claim until the receiver answered, and for a failure
        until it is recorded (the breaker's state decides what the endpoint may get next)."""
        self._wakeup = asyncio.Event()
        self._client: EgressClient | None = None
        self._starved = False
        """The last claim round left due deliveries behind for lack of room: a finished attempt
        (a freed slot) is then worth another round."""
        self._recorder = AttemptRecorder(db, ctx, self._wakeup.set, unit_random)

    # -- the loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        # Connections per endpoint: no more than it may have in flight.
        self._client = EgressClient(
            self._config.egress_policy(), connections_per_endpoint=self._config.max_in_flight_per_endpoint
        )
        try:
            async with listening(self._db.pool, WAKE_CHANNEL, self._wakeup) as listener:
                try:
                    await self._loop()
                finally:
                    await self._shutdown(listener)
        finally:
            await self._client.aclose()

    async def _loop(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                claimed = await self.claim_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notify: claiming deliveries failed; retrying")
                claimed = 0
                await asyncio.sleep(1.0)
            if claimed == self._config.claim_batch and self._free_slots() > 0:
                continue  # a full batch: more is probably due right now
            await wait_event(self._wakeup, self._config.poll_seconds)
            if self._config.claim_coalesce_seconds:
                await asyncio.sleep(self._config.claim_coalesce_seconds)

    async def _shutdown(self, listener: Listener) -> None:
        abandoned = list(self._tasks.values())
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._recorder.stop()  # what it had not committed is among the abandoned
        if not abandoned:
            return
        # hand them back at once instead of waiting for their leases to end, on the listening
        # connection if it is alive (the pool's may all be taken by now)
        if listener.conn is not None:
            await attempts.hand_back(listener.conn, abandoned)
        else:
            async with self._db.pool.acquire() as conn:
                await attempts.hand_back(conn, abandoned)

    def _free_slots(self) -> int:
        return self._config.max_in_flight_total - self._posting

    # -- claiming ------------------------------------------------------------------------------
    async def claim_once(self) -> int:
        if self._free_slots() <= 0:
            self._starved = True
            return 0
        now = self._now()
        token = uuid.uuid4().hex
        # No transaction around the two statements: the claim re-checks every row's status under
        # SKIP LOCKED, so a row another instance took meanwhile is simply not returned.
        async with self._db.pool.acquire() as conn:
            heads, endpoints = await attempts.ready_heads(conn, now, self._config.claim_batch)
            candidates = ready(heads, now)
            if not candidates:
                self._starved = False
                return 0
            capacity = {eid: self._capacity(endpoint, now) for eid, endpoint in endpoints.items()}
            # the room as it is now: slots freed while the heads were read serve this round too
            chosen = choose(candidates, capacity, self._free_slots())
            self._starved = len(chosen) < len(candidates)
            if not chosen:
                return 0
            self._take_tokens(chosen)
            claimed = await attempts.claim(
                conn,
                [c.id for c in chosen],
                token,
                self._config.timeout_seconds + self._config.lease_margin_seconds,
            )
        for delivery in claimed:
            endpoint = endpoints[delivery.endpoint_id]
            self._in_flight[endpoint.id] += 1
            self._posting += 1
            task = asyncio.create_task(self._attempt(delivery, endpoint), name=f"notify:{delivery.id}")
            self._tasks[task] = delivery
            task.add_done_callback(self._attempt_done)
        IN_FLIGHT.set(self._posting)
        return len(claimed)

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)

    def _release(self, endpoint_id: str) -> None:
        self._in_flight[endpoint_id] -= 1
        self._posting -= 1
        IN_FLIGHT.set(self._posting)
        if self._starved:
            self._wakeup.set()  # a slot is free for what the last round had to leave behind

    def _capacity(self, endpoint: Endpoint, now: datetime) -> int:
        breaker = endpoint.health.breaker
        allowed = allowed_in_flight(breaker, self._breaker, self._config.max_in_flight_per_endpoint, now)
        room = allowed - self._in_flight[endpoint.id]
        rate = endpoint.rate_limit_per_second or self._config.default_rate_limit_per_second
        if rate:
            bucket = self._bucket(endpoint.id, rate).refilled(time.monotonic())
            self._buckets[endpoint.id] = bucket
            room = min(room, math.floor(bucket.tokens))
        return max(0, room)

    def _bucket(self, endpoint_id: str, rate: float) -> TokenBucket:
        bucket = self._buckets.get(endpoint_id)
        if bucket is None or bucket.rate != rate:
            bucket = TokenBucket.full(rate, time.monotonic())
            self._buckets[endpoint_id] = bucket
        return bucket

    def _take_tokens(self, chosen: list[QueuedDelivery]) -> None:
        for item in chosen:
            bucket = self._buckets.get(item.endpoint_id)
            if bucket is not None:
                self._buckets[item.endpoint_id], _ = bucket.take(time.monotonic())

    # -- one attempt ---------------------------------------------------------------------------
    async def _attempt(self, delivery: ClaimedDelivery, endpoint: Endpoint) -> None:
        assert self._client is not None
        holding = True
        try:
            started_at = self._now()
            secrets = active_secrets(
                endpoint.secret, endpoint.previous_secret, endpoint.previous_secret_expires_at, started_at
            )
            headers = webhook_headers(secrets, delivery.webhook_id, int(self._wall_seconds()), delivery.body)
            result = await post_webhook(
                self._client,
                endpoint.id,
                endpoint.url,
                delivery.body,
                headers,
                self._config.timeout_seconds,
                self._config.response_cap_bytes,
            )
            ATTEMPT_SECONDS.observe(result.seconds)
            if result.outcome.succeeded:
                # The endpoint has answered: its slot may serve the next delivery while this one is
                # recorded (the order's next step still waits for the record, which ready_heads sees).
                holding = False
                self._release(endpoint.id)
            try:
                await self._recorder.record(delivery, endpoint, result, started_at)
            except Exception:
                # The lease runs out and the delivery is attempted again: at-least-once, same webhook-id.
                log.exception("notify: recording attempt of %s failed", delivery.id)
        finally:
            if holding:
                self._release(endpoint.id)
