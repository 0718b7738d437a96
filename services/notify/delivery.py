"""The delivery worker: claims due deliveries (SKIP LOCKED, per-order ordering), posts them with
per-endpoint limits, and records every attempt, retry, dead letter and endpoint disablement.

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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runtime.aio import wait_event
from runtime.db import Connection, Database
from runtime.listen import listening
from runtime.outbox import enqueue
from schemas.registry import make_event
from schemas.v1.webhooks import DeliveryDeadLettered, EndpointDisabled
from services.notify.context import Context
from services.notify.domain.attempts import AttemptOutcome, outcome_for_status
from services.notify.domain.breaker import (
    BreakerPolicy,
    BreakerState,
    after_failure,
    allowed_in_flight,
)
from services.notify.domain.queue import DeliveryStatus, QueuedDelivery, choose, ready
from services.notify.domain.ratelimit import TokenBucket
from services.notify.domain.retry import next_delay
from services.notify.domain.signing import active_secrets, webhook_headers
from services.notify.egress import ConnectFailed, EgressClient, EgressRefused
from services.notify.metrics import (
    ATTEMPT_SECONDS,
    ATTEMPTS,
    DELIVERIES,
    DELIVERY_LATENCY,
    ENDPOINTS_DISABLED_TOTAL,
    IN_FLIGHT,
)
from services.notify.repository import deliveries, endpoints
from services.notify.repository.deliveries import ClaimedDelivery, Success
from services.notify.repository.endpoints import Endpoint

log = logging.getLogger(__name__)

SOURCE = "careloop/notify"
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class AttemptResult:
    outcome: AttemptOutcome
    status_code: int | None
    seconds: float
    response_body: str | None
    error: str | None


async def post_webhook(
    client: EgressClient, url: str, body: bytes, headers: dict[str, str], timeout: float, cap: int
) -> AttemptResult:
    """One POST, bounded in total time and in how much of the answer is read; never raises for
    network trouble (that is an outcome)."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            answer = await client.post(url, body, headers, cap)
    except TimeoutError:
        outcome, error = AttemptOutcome.TIMEOUT, f"no complete answer within {timeout:g} s"
    except EgressRefused as exc:
        outcome, error = AttemptOutcome.REFUSED, str(exc)
    except ConnectFailed as exc:
        outcome, error = AttemptOutcome.CONNECT_ERROR, str(exc) or type(exc).__name__
    except Exception as exc:  # whatever the remote side provokes is an outcome, never a stuck delivery
        outcome, error = AttemptOutcome.NETWORK_ERROR, f"{type(exc).__name__}: {exc}"
    else:
        outcome = outcome_for_status(answer.status_code)
        return AttemptResult(
            outcome,
            answer.status_code,
            time.perf_counter() - started,
            # Postgres text cannot hold NUL; a binary answer must not make the attempt unrecordable
            answer.body.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
            None if outcome.succeeded else f"HTTP {answer.status_code}",
        )
    return AttemptResult(outcome, None, time.perf_counter() - started, None, error[:MAX_ERROR_CHARS])


@dataclass
class _PendingSuccess:
    delivery: ClaimedDelivery
    success: Success
    recorded: asyncio.Future[bool]
    """True once committed; False if the delivery was no longer ours (deleted, lease taken over)."""


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
        self._config = config = ctx.config
        self._now = ctx.now
        self._notify_topic = ctx.notify_topic
        # webhook-timestamp is for the receiver's replay window, compared with its wall clock,
        # so it is wall time even when domain time is simulated or accelerated.
        self._wall_seconds = wall_seconds
        self._unit_random = unit_random
        self._breaker = BreakerPolicy(
            config.breaker_threshold, timedelta(seconds=config.breaker_cooldown_seconds)
        )
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
        self._successes: list[_PendingSuccess] = []
        self._recorder: asyncio.Task[None] | None = None

    # -- the loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        # Idle connections per origin: no more than one endpoint may have in flight.
        self._client = EgressClient(
            self._config.egress_policy(), max_idle_per_origin=self._config.max_in_flight_per_endpoint
        )
        try:
            async with listening(self._db.pool, deliveries.WAKE_CHANNEL, self._wakeup) as conn:
                try:
                    await self._loop()
                finally:
                    await self._shutdown(conn)
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

    async def _shutdown(self, conn: Connection) -> None:
        abandoned = list(self._tasks.values())
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._recorder is not None:
            # Whatever it had not committed stays 'delivering' and is handed back below.
            self._recorder.cancel()
            await asyncio.gather(self._recorder, return_exceptions=True)
        if abandoned:  # hand them back at once instead of waiting for their leases to end
            await conn.execute(
                "UPDATE deliveries SET status = 'pending', claim_token = NULL, lease_until = NULL"
                " WHERE id = ANY($1) AND claim_token = ANY($2) AND status = 'delivering'",
                [c.id for c in abandoned],
                list({c.claim_token for c in abandoned}),
            )

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
            heads, endpoints = await deliveries.ready_heads(conn, now, self._config.claim_batch)
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
            claimed = await deliveries.claim(
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
        state = BreakerState(endpoint.breaker_failures, endpoint.breaker_open_until)
        allowed = allowed_in_flight(state, self._breaker, self._config.max_in_flight_per_endpoint, now)
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
                endpoint.url,
                delivery.body,
                headers,
                self._config.timeout_seconds,
                self._config.response_cap_bytes,
            )
            ATTEMPTS.labels(result.outcome.value).inc()
            ATTEMPT_SECONDS.observe(result.seconds)
            if result.outcome.succeeded:
                # The endpoint has answered: its slot may serve the next delivery while this one is
                # recorded (the order's next step still waits for the record, which ready_heads sees).
                holding = False
                self._release(endpoint.id)
            try:
                await self.record(delivery, result, started_at)
            except Exception:
                # The lease runs out and the delivery is attempted again: at-least-once, same webhook-id.
                log.exception("notify: recording attempt of %s failed", delivery.id)
        finally:
            if holding:
                self._release(endpoint.id)

    async def record(self, delivery: ClaimedDelivery, result: AttemptResult, started_at: datetime) -> None:
        now = self._now()
        if result.outcome.succeeded:
            assert result.status_code is not None
            success = Success(
                delivery.id,
                delivery.claim_token,
                started_at,
                now,
                result.status_code,
                result.seconds * 1000.0,
                result.response_body,
            )
            await self._record_success(delivery, success)
            return
        async with self._db.transaction() as conn:
            endpoint = await endpoints.lock_endpoint(conn, delivery.endpoint_id)
            row = await deliveries.lock_claimed(conn, delivery.id, delivery.claim_token)
            if endpoint is None or row is None:
                return
            await self._insert_attempt(conn, delivery, result, started_at)
            await self._failed(conn, delivery, endpoint, row["round_attempts"], row["shop_id"], result, now)
        self._wakeup.set()  # a retry may be due at once (a schedule starting with zeros)

    async def _record_success(self, delivery: ClaimedDelivery, success: Success) -> None:
        """Wait until the success is committed. Successes arriving while a batch is being written
        join the next one, so recording costs one statement per batch, not one per attempt, and
        adds no wait when attempts finish one at a time."""
        recorded = asyncio.get_running_loop().create_future()
        self._successes.append(_PendingSuccess(delivery, success, recorded))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_successes(), name="notify:record")
        if await recorded:
            DELIVERIES.labels("succeeded", delivery.event_type).inc()
            DELIVERY_LATENCY.labels(delivery.event_type).observe(
                max(0.0, (success.finished_at - delivery.event_time).total_seconds())
            )

    async def _record_successes(self) -> None:
        while self._successes:
            batch, self._successes = self._successes, []
            try:
                async with self._db.pool.acquire() as conn:
                    recorded = await deliveries.record_successes(conn, [p.success for p in batch])
            except Exception as exc:  # each waiting attempt logs it; their leases will run out
                for pending in batch:
                    if not pending.recorded.done():
                        pending.recorded.set_exception(exc)
                continue
            for pending in batch:
                if not pending.recorded.done():
                    pending.recorded.set_result(pending.delivery.id in recorded)
            if any(recorded.values()):
                self._wakeup.set()  # an order's next step became its head

    @staticmethod
    async def _insert_attempt(
        conn: Connection, delivery: ClaimedDelivery, result: AttemptResult, started_at: datetime
    ) -> None:
        await deliveries.insert_attempt(
            conn,
            delivery.id,
            started_at,
            result.outcome.value,
            result.status_code,
            result.seconds * 1000.0,
            result.response_body,
            result.error,
        )

    async def _failed(
        self,
        conn: Connection,
        delivery: ClaimedDelivery,
        endpoint: Endpoint,
        round_attempts: int,
        shop_id: str,
        result: AttemptResult,
        now: datetime,
    ) -> None:
        state = after_failure(
            BreakerState(endpoint.breaker_failures, endpoint.breaker_open_until), self._breaker, now
        )
        failing_since = endpoint.failing_since or now
        changes: dict[str, Any] = {
            "breaker_failures": state.failures,
            "breaker_open_until": state.open_until,
            "failing_since": failing_since,
        }
        reason = self._disable_reason(result, failing_since, now)
        if reason is not None and endpoint.enabled:
            changes.update(enabled=False, disabled_reason=reason[0], disabled_at=now)
            await enqueue(
                conn,
                self._notify_topic,
                make_event(
                    "webhook.endpoint_disabled",
                    SOURCE,
                    EndpointDisabled(
                        shop_id=shop_id, endpoint_id=endpoint.id, url=endpoint.url, reason=reason[0], at=now
                    ),
                    subject=endpoint.id,
                ),
            )
            ENDPOINTS_DISABLED_TOTAL.labels(reason[1]).inc()
            log.warning("notify: endpoint %s disabled: %s", endpoint.id, reason[0])
        await endpoints.update_endpoint(conn, endpoint.shop_id, endpoint.id, now, **changes)

        delay = next_delay(
            self._config.retry_schedule_seconds,
            round_attempts + 1,
            self._config.retry_jitter,
            self._unit_random(),
        )
        if delay is not None:
            await deliveries.reschedule_delivery(
                conn, delivery.id, now + timedelta(seconds=delay), result.status_code, result.error
            )
            return
        await deliveries.finish_delivery(
            conn, delivery.id, DeliveryStatus.DEAD, now, result.status_code, result.error
        )
        await enqueue(
            conn,
            self._notify_topic,
            make_event(
                "webhook.delivery_dead_lettered",
                SOURCE,
                DeliveryDeadLettered(
                    shop_id=shop_id,
                    endpoint_id=endpoint.id,
                    delivery_id=delivery.id,
                    webhook_id=delivery.webhook_id,
                    event_type=delivery.event_type,
                    attempts=round_attempts + 1,
                    last_error=result.error or "",
                    at=now,
                ),
                subject=endpoint.id,
            ),
        )
        DELIVERIES.labels("dead_lettered", delivery.event_type).inc()

    def _disable_reason(
        self, result: AttemptResult, failing_since: datetime, now: datetime
    ) -> tuple[str, str] | None:
        """(message, metric label) if this failure disables the endpoint."""
        if result.outcome is AttemptOutcome.GONE:
            return "the receiver answered 410 Gone", "gone"
        if now - failing_since >= timedelta(seconds=self._config.disable_after_seconds):
            return f"failing continuously since {failing_since.isoformat()}", "failing"
        return None
