"""`audit.events`: who did what. Every service records an action in the same transaction as the
action itself (runtime/audit.py, through its outbox); intake keeps them all in its append-only
`audit_log` (docs/intake.md "Audit log")."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from schemas.v1.common import EventData


class ActorKind(StrEnum):
    ADMIN = "admin"
    """The operator, with the admin credential."""
    KEY = "key"
    """A shop's API key (the actor id is the key's id, never the key)."""
    AGENT = "agent"
    """One of a shop's agents, by their own token (the actor id is the agent's id)."""
    SYSTEM = "system"
    """CareLoop itself, e.g. a privacy request arriving from a shop platform."""


class AuditRecorded(EventData):
    """`audit.recorded`: one action, recorded once (the event id is the record's identity)."""

    shop_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    """The shop the action concerns (None for none in particular)."""
    service: str = Field(min_length=1, max_length=32)
    actor_kind: ActorKind
    actor_id: str = Field(min_length=1, max_length=100)
    agent: str | None = Field(default=None, max_length=200)
    """The agent's name as the request gave it (a reply's author_name), when there is one."""
    action: str = Field(min_length=1, max_length=64, pattern=r"^[a-z_]+(\.[a-z_]+)+$")
    """What was done, as `<thing>.<verb>`: ticket.reply, shop.suspend, key.revoke, delivery.replay…"""
    target: str = Field(min_length=1, max_length=200)
    """What it was done to, as `<kind>:<id>` (ticket:tkt_…, shop:demo-shop, key:key_…)."""
    source_ip: str | None = Field(default=None, max_length=64)
    """The address the request came from (the peer of the HTTP connection)."""
    at: datetime


AUDIT_EVENT_TYPES: dict[str, type[EventData]] = {"audit.recorded": AuditRecorded}
