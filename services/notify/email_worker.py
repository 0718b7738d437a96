"""The e-mail worker: claims due reply e-mails (SKIP LOCKED, wall-time leases as for webhook
deliveries), sends each through its shop's SMTP relay (smtp.py) and records the outcome: sent, tried
again on the webhooks' schedule, or dead-lettered with the reason (domain/mail.py decides). Every
finished send is reported on support.reply_status in the same transaction, so intake records it on
the reply (a failed one flags the ticket)."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable
from datetime import datetime

from runtime.aio import wait_event
from runtime.db import Connection, Database
from runtime.listen import listening
from runtime.metrics import counted_on_commit, on_commit
from runtime.outbox import enqueue
from schemas.registry import make_event
from schemas.v1.replies import ReplyDelivery, ReplyStatusReported
from services.notify.context import Context
from services.notify.domain.mail import GiveUp, Sender, after_failure, compose
from services.notify.metrics import EMAIL_ATTEMPTS, EMAIL_SECONDS, EMAILS
from services.notify.repository import email
from services.notify.repository.email import WAKE_CHANNEL, ClaimedSend
from services.notify.resolver import Resolver
from services.notify.smtp import SendResult, send_email

log = logging.getLogger(__name__)

SOURCE = "careloop/notify"
GATEWAY = "careloop-smtp"
NO_RELAY = "the shop has no SMTP relay any more"


class EmailWorker:
    def __init__(
        self, db: Database, ctx: Context, *, unit_random: Callable[[], float] = random.random
    ) -> None:
        self._db = db
        self._ctx = ctx
        self._config = ctx.config
        self._unit_random = unit_random
        self._resolver = Resolver(ctx.config.egress_policy())
        self._wakeup = asyncio.Event()
        self._tasks: dict[asyncio.Task[None], ClaimedSend] = {}

    async def run(self) -> None:
        async with listening(self._db.pool, WAKE_CHANNEL, self._wakeup):
            try:
                await self._loop()
            finally:
                await self._shutdown()

    async def _loop(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                claimed = await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notify: claiming e-mails failed; retrying")
                claimed = 0
                await asyncio.sleep(1.0)
            if claimed and len(self._tasks) < self._config.email_max_in_flight:
                continue  # more may be due right now
            await wait_event(self._wakeup, self._config.poll_seconds)

    async def _shutdown(self) -> None:
        abandoned = [send.id for send in self._tasks.values()]
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if abandoned:  # back to the queue at once instead of waiting for their leases to end
            async with self._db.pool.acquire() as conn:
                await email.hand_back(conn, abandoned)

    async def send_due(self) -> int:
        """Claim what is due as far as free slots allow and start sending it; how many were claimed."""
        room = self._config.email_max_in_flight - len(self._tasks)
        if room <= 0:
            return 0
        lease = self._config.email_timeout_seconds + self._config.lease_margin_seconds
        async with self._db.pool.acquire() as conn:
            claimed = await email.claim(conn, self._ctx.now(), room, uuid.uuid4().hex, lease)
        for send in claimed:
            task = asyncio.create_task(self._send(send), name=f"notify:email:{send.id}")
            self._tasks[task] = send
            task.add_done_callback(self._done)
        return len(claimed)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        self._wakeup.set()  # a slot is free

    async def _send(self, send: ClaimedSend) -> None:
        result = await self._attempt(send)
        EMAIL_ATTEMPTS.labels(result.outcome).inc()
        EMAIL_SECONDS.observe(result.seconds)
        try:
            await self._record(send, result)
        except Exception:  # the lease runs out and the send is taken over: at least once
            log.exception("notify: recording e-mail %s failed", send.id)

    async def _attempt(self, send: ClaimedSend) -> SendResult:
        relay = send.relay
        if relay is None:
            return SendResult(False, permanent=True, error=NO_RELAY)
        try:
            message = compose(send.mail, Sender(relay.from_address, relay.from_name))
        except (ValueError, TypeError) as exc:  # an address the e-mail package cannot write
            return SendResult(False, permanent=True, error=f"cannot write the e-mail: {exc}"[:500])
        return await send_email(
            relay,
            message,
            send.mail.to_address,
            self._resolver,
            self._config.email_timeout_seconds,
            helo_name=self._config.smtp_helo_name,
        )

    async def _record(self, send: ClaimedSend, result: SendResult) -> None:
        now = self._ctx.now()
        with counted_on_commit():
            async with self._db.transaction() as conn:
                if result.sent:
                    if await email.finish(conn, send.id, send.claim_token, "sent", now, None):
                        await self._report(conn, send, ReplyDelivery.SENT, None, now)
                        on_commit(EMAILS.labels("sent").inc)
                    return
                error = result.error or "failed"
                decision = after_failure(
                    result.permanent,
                    send.attempts,
                    self._config.retry_schedule_seconds,
                    self._config.retry_jitter,
                    self._unit_random(),
                    now,
                )
                if not isinstance(decision, GiveUp):
                    if await email.reschedule(conn, send.id, send.claim_token, decision.at, error):
                        self._wakeup.set()  # a schedule starting with zeros is due at once
                    return
                if await email.finish(conn, send.id, send.claim_token, "dead", now, error):
                    reason = f"{error} (after {decision.attempts} attempts)"
                    await self._report(conn, send, ReplyDelivery.FAILED, reason, now)
                    on_commit(EMAILS.labels("dead_lettered").inc)
                    log.warning(
                        "notify: e-mail %s dead-lettered after %d attempts", send.id, decision.attempts
                    )

    async def _report(
        self, conn: Connection, send: ClaimedSend, status: ReplyDelivery, reason: str | None, now: datetime
    ) -> None:
        data = ReplyStatusReported(
            shop_id=send.shop_id,
            ticket_id=send.ticket_id,
            message_id=send.message_id,
            status=status,
            reason=reason,
            gateway=GATEWAY,
            at=now,
        )
        event = make_event("reply.status", SOURCE, data, subject=send.ticket_id, time=now)
        await enqueue(conn, self._ctx.reply_status_topic, event)
