"""Recording each attempt and carrying out what the outcome policy (domain/outcome.py) decided: the
delivery succeeded, retried or dead-lettered, the endpoint's health, its disablement, and the events
and metrics that go with them.

Successes finishing while one batch of them is being written are written together in the next
statement; a failure is recorded in a transaction of its own, under the endpoint's lock, since its
effect depends on the endpoint's recorded health.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runtime.db import Connection, Database
from runtime.metrics import counted_on_commit, on_commit, shop_label
from runtime.outbox import enqueue
from schemas.registry import make_event
from schemas.v1.webhooks import DeliveryDeadLettered, EndpointDisabled
from services.notify.context import Context
from services.notify.domain.attempts import AttemptOutcome
from services.notify.domain.outcome import DeadLetter, Disable, Retry
from services.notify.domain.queue import DeliveryStatus
from services.notify.egress import AttemptResult
from services.notify.metrics import ATTEMPTS, DELIVERIES, DELIVERY_LATENCY, ENDPOINTS_DISABLED_TOTAL
from services.notify.repository import attempts, endpoints
from services.notify.repository.attempts import ClaimedDelivery, Success
from services.notify.repository.endpoints import Endpoint

log = logging.getLogger(__name__)

SOURCE = "careloop/notify"


@dataclass
class _PendingSuccess:
    delivery: ClaimedDelivery
    success: Success
    recorded: asyncio.Future[bool]
    """True once committed; False if the delivery was no longer ours (deleted, lease taken over)."""


class AttemptRecorder:
    def __init__(
        self, db: Database, ctx: Context, wake: Callable[[], None], unit_random: Callable[[], float]
    ) -> None:
        self._db = db
        self._ctx = ctx
        self._policy = ctx.config.outcome_policy()
        self._wake = wake
        """Tells the worker a claim round is worth making (a retry or an order's next step is due)."""
        self._unit_random = unit_random
        self._successes: list[_PendingSuccess] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(
        self, delivery: ClaimedDelivery, endpoint: Endpoint, result: AttemptResult, started_at: datetime
    ) -> None:
        """Record the attempt of `delivery` to `endpoint` (as claimed) that started at `started_at`."""
        now = self._ctx.now()
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
                # the same whatever the endpoint's health was, so its snapshot from the claim will do
                self._policy.succeeded(endpoint.health),
            )
            await self._record_success(delivery, success, endpoint.shop_id)
            return
        if await self._record_failure(delivery, result, started_at, now):
            self._wake()  # a retry may be due at once (a schedule starting with zeros)

    async def stop(self) -> None:
        """Stop writing successes: whatever was not committed stays 'delivering' for the worker to
        hand back."""
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)

    # -- successes ---------------------------------------------------------------------------
    async def _record_success(self, delivery: ClaimedDelivery, success: Success, shop_id: str) -> None:
        """Wait until the success is committed. Successes arriving while a batch is being written
        join the next one, so recording costs one statement per batch, not one per attempt, and
        adds no wait when attempts finish one at a time."""
        recorded = asyncio.get_running_loop().create_future()
        self._successes.append(_PendingSuccess(delivery, success, recorded))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_successes(), name="notify:record")
        if await recorded:
            shop = shop_label(shop_id)
            ATTEMPTS.labels(shop, AttemptOutcome.SUCCESS.value).inc()
            DELIVERIES.labels(shop, "succeeded", delivery.event_type).inc()
            DELIVERY_LATENCY.labels(delivery.event_type).observe(
                max(0.0, (success.finished_at - delivery.event_time).total_seconds())
            )

    async def _write_successes(self) -> None:
        while self._successes:
            batch, self._successes = self._successes, []
            try:
                async with self._db.pool.acquire() as conn:
                    recorded = await attempts.record_successes(conn, [p.success for p in batch])
            except Exception as exc:  # each waiting attempt logs it; their leases will run out
                for pending in batch:
                    if not pending.recorded.done():
                        pending.recorded.set_exception(exc)
                continue
            for pending in batch:
                if not pending.recorded.done():
                    pending.recorded.set_result(pending.delivery.id in recorded)
            if any(recorded.values()):
                self._wake()  # an order's next step became its head

    # -- failures ----------------------------------------------------------------------------
    async def _record_failure(
        self, delivery: ClaimedDelivery, result: AttemptResult, started_at: datetime, now: datetime
    ) -> bool:
        """False if the delivery was no longer ours (deleted, lease taken over) or its endpoint gone."""
        with counted_on_commit():
            async with self._db.transaction() as conn:
                # first, as every transaction takes the locks: the lane (a dead letter hands it on),
                # then the endpoint, then the delivery
                await attempts.lock_lane(conn, delivery.id)
                endpoint = await endpoints.lock_endpoint(conn, delivery.endpoint_id)
                row = await attempts.lock_claimed(conn, delivery.id, delivery.claim_token)
                if endpoint is None or row is None:
                    return False
                await attempts.insert_attempt(
                    conn,
                    delivery.id,
                    started_at,
                    result.outcome.value,
                    result.status_code,
                    result.seconds * 1000.0,
                    result.response_body,
                    result.error,
                )
                on_commit(ATTEMPTS.labels(shop_label(row["shop_id"]), result.outcome.value).inc)
                decision = self._policy.failed(
                    result.outcome,
                    endpoint.health,
                    endpoint.enabled,
                    row["round_attempts"],
                    now,
                    self._unit_random(),
                )
                await self._update_endpoint(conn, endpoint, row["shop_id"], decision, now)
                await self._update_delivery(conn, delivery, row["shop_id"], result, decision, now)
        return True

    async def _update_endpoint(
        self, conn: Connection, endpoint: Endpoint, shop_id: str, decision: Retry | DeadLetter, now: datetime
    ) -> None:
        changes: dict[str, Any] = {
            "breaker_failures": decision.health.breaker.failures,
            "breaker_open_until": decision.health.breaker.open_until,
            "failing_since": decision.health.failing_since,
        }
        if decision.disable is not None:
            changes.update(enabled=False, disabled_reason=decision.disable.reason, disabled_at=now)
            await self._disabled(conn, endpoint, shop_id, decision.disable, now)
        await endpoints.update_endpoint(conn, endpoint.shop_id, endpoint.id, now, **changes)

    async def _disabled(
        self, conn: Connection, endpoint: Endpoint, shop_id: str, disable: Disable, now: datetime
    ) -> None:
        data = EndpointDisabled(
            shop_id=shop_id, endpoint_id=endpoint.id, url=endpoint.url, reason=disable.reason, at=now
        )
        await enqueue(
            conn,
            self._ctx.notify_topic,
            make_event("webhook.endpoint_disabled", SOURCE, data, subject=endpoint.id, time=now),
        )
        on_commit(ENDPOINTS_DISABLED_TOTAL.labels(shop_label(shop_id), disable.kind).inc)
        log.warning("notify: endpoint %s disabled: %s", endpoint.id, disable.reason)

    async def _update_delivery(
        self,
        conn: Connection,
        delivery: ClaimedDelivery,
        shop_id: str,
        result: AttemptResult,
        decision: Retry | DeadLetter,
        now: datetime,
    ) -> None:
        if isinstance(decision, Retry):
            await attempts.reschedule_delivery(
                conn, delivery.id, decision.at, result.status_code, result.error
            )
            return
        await attempts.finish_delivery(
            conn, delivery.id, DeliveryStatus.DEAD, now, result.status_code, result.error
        )
        data = DeliveryDeadLettered(
            shop_id=shop_id,
            endpoint_id=delivery.endpoint_id,
            delivery_id=delivery.id,
            webhook_id=delivery.webhook_id,
            event_type=delivery.event_type,
            attempts=decision.attempts,
            last_error=result.error or "",
            at=now,
        )
        await enqueue(
            conn,
            self._ctx.notify_topic,
            make_event(
                "webhook.delivery_dead_lettered", SOURCE, data, subject=delivery.endpoint_id, time=now
            ),
        )
        on_commit(DELIVERIES.labels(shop_label(shop_id), "dead_lettered", delivery.event_type).inc)
