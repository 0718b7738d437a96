"""Who did what: an action is recorded in the same transaction as the action itself, as an
`audit.recorded` event in the service's outbox (so a rolled-back action leaves no record and a
committed one always reaches the log); intake keeps every service's records in its append-only
`audit_log` (docs/intake.md "Audit log").

A route gets its `Caller` (runtime.http_api: `CurrentCaller`, `AdminCaller`, `AnyCaller`) and calls
`await caller.record(conn, "ticket.reply", f"ticket:{ticket_id}")` inside its unit of work; a
consumer's handler, with no request, calls `record_audit` with the service's `AuditTrail` and an actor
such as `SYSTEM`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from runtime.db import Connection
from runtime.outbox import enqueue
from runtime.settings import Settings
from schemas.registry import make_event
from schemas.topics import AUDIT
from schemas.v1.audit import ActorKind, AuditRecorded


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str
    """"admin", the shop key's id (never the key), the agent's id, or the system's name for itself."""
    agent: str | None = None
    """The agent's name: an agent's own, or the one a shop-key request gave (a reply's author_name)."""


ADMIN = Actor(ActorKind.ADMIN, "admin")
SYSTEM = Actor(ActorKind.SYSTEM, "careloop")


@dataclass(frozen=True)
class AuditTrail:
    """Where a service's audit records go: the (prefixed) audit topic, through its outbox."""

    topic: str
    service: str

    @classmethod
    def of(cls, settings: Settings) -> AuditTrail:
        return cls(settings.topic(AUDIT.name), settings.service_name)


async def record_audit(
    conn: Connection,
    trail: AuditTrail,
    actor: Actor,
    action: str,
    target: str,
    *,
    shop_id: str | None,
    source_ip: str | None = None,
    at: datetime | None = None,
) -> None:
    """Enqueue the record of one action in `conn`'s transaction: it exists if and only if the action
    commits. `at` is wall-clock time unless given: the log says when a person really acted, whatever
    the domain's clock (an accelerated demo week) says."""
    record = AuditRecorded(
        shop_id=shop_id,
        service=trail.service,
        actor_kind=actor.kind,
        actor_id=actor.id,
        agent=actor.agent,
        action=action,
        target=target,
        source_ip=source_ip,
        at=at or datetime.now(UTC),
    )
    event = make_event("audit.recorded", f"careloop/{trail.service}", record, subject=shop_id, time=record.at)
    await enqueue(conn, trail.topic, event, key=shop_id or "-")


@dataclass(frozen=True)
class Caller:
    """Who made an HTTP request: the actor, its shop (None for the operator) and where it came from."""

    actor: Actor
    shop_id: str | None
    source_ip: str | None
    trail: AuditTrail

    def as_agent(self, name: str | None) -> Caller:
        """The same caller, naming the agent a shop-key request speaks for (an agent's own token
        already names them)."""
        if not name or self.actor.agent is not None:
            return self
        return replace(self, actor=replace(self.actor, agent=name))

    async def record(self, conn: Connection, action: str, target: str, *, shop_id: str | None = None) -> None:
        """Record the caller's action on `target` (of its own shop unless `shop_id` says which)."""
        await record_audit(
            conn,
            self.trail,
            self.actor,
            action,
            target,
            shop_id=shop_id or self.shop_id,
            source_ip=self.source_ip,
        )
