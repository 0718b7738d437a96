"""The topic map: every topic, who publishes and consumes it, its key, partitions and retention.

`runtime.infra bootstrap` creates exactly these (plus a `<name>.dlq` for each consumed topic);
docs/topics.md is generated from this table and checked by a test.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    partitions: int
    retention_ms: int
    publishers: tuple[str, ...]
    consumers: tuple[str, ...]
    purpose: str
    compacted: bool = False
    """Kept by key (cleanup.policy=compact: the latest record of each key stays) instead of by age."""

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


ORDERS = Topic(
    "orders.events",
    "order id",
    6,
    14 * DAY_MS,
    ("shop platform", "intake (Shopify/WooCommerce webhooks)"),
    ("intake", "sla", "notify", "survey"),
    "Order journey steps (order, return, refund, repair) from the shop platforms.",
)
CONTACTS = Topic(
    "support.contacts",
    "shop id + customer",
    6,
    14 * DAY_MS,
    ("chat/e-mail gateways",),
    ("intake",),
    "Customer contacts from channel gateways; same model as POST /v1/contacts.",
)
TICKETS = Topic(
    "tickets.events",
    "ticket id",
    6,
    14 * DAY_MS,
    ("intake",),
    ("sla", "notify", "survey"),
    "Ticket lifecycle: created, message added, first response, status changes, solved, reopened, merged.",
)
SLA = Topic(
    "sla.events",
    "ticket id / order id",
    6,
    14 * DAY_MS,
    ("sla",),
    ("intake", "notify"),
    "SLA clock changes, warnings, breaches, met targets, escalations and order promise breaches.",
)
SURVEYS = Topic(
    "survey.events",
    "survey id",
    6,
    14 * DAY_MS,
    ("survey",),
    ("intake", "notify"),
    "Survey invitations, answers and detractors.",
)
NOTIFY = Topic(
    "notify.events",
    "endpoint id",
    3,
    14 * DAY_MS,
    ("notify",),
    (),
    "Webhook endpoint health (disabled endpoints) and dead-lettered deliveries.",
)

REPLIES = Topic(
    "support.replies",
    "ticket id",
    6,
    14 * DAY_MS,
    ("intake",),
    ("chat/e-mail gateways",),
    "Replies to send to customers on their channel; the mirror of support.contacts.",
)
REPLY_STATUS = Topic(
    "support.reply_status",
    "ticket id",
    6,
    14 * DAY_MS,
    ("chat/e-mail gateways", "notify"),
    ("intake",),
    "What became of each reply: sent, delivered or failed with the reason.",
)

SHOPS = Topic(
    "shops.state",
    "shop id",
    1,
    14 * DAY_MS,
    ("intake (operator API)",),
    ("intake", "sla", "notify", "survey"),
    "Each shop's whole current state (keys as hashes, status); every service reads it from the start.",
    compacted=True,
)
AUDIT = Topic(
    "audit.events",
    "shop id",
    6,
    14 * DAY_MS,
    ("intake", "sla", "notify", "survey"),
    ("intake",),
    "Who did what: admin, key and agent actions, recorded with the action; intake keeps the log.",
)
PRIVACY = Topic(
    "privacy.events",
    "shop id",
    6,
    14 * DAY_MS,
    ("intake", "sla", "notify", "survey"),
    ("intake", "sla", "notify", "survey"),
    "Privacy requests (erase or export a customer's data) and each service's completion of its part.",
)

ALL_TOPICS: tuple[Topic, ...] = (
    ORDERS,
    CONTACTS,
    TICKETS,
    SLA,
    SURVEYS,
    NOTIFY,
    REPLIES,
    REPLY_STATUS,
    SHOPS,
    AUDIT,
    PRIVACY,
)
DLQ_RETENTION_MS = 30 * DAY_MS
DLQ_PARTITIONS = 1


def by_name(name: str) -> Topic:
    for topic in ALL_TOPICS:
        if topic.name == name:
            return topic
    raise KeyError(name)


def render_markdown() -> str:
    lines = [
        "# Topic map",
        "",
        "Generated from `schemas/topics.py` by `python -m schemas.generate`; do not edit by hand.",
        "Every consumed topic has a dead-letter topic `<name>.dlq` "
        f"({DLQ_PARTITIONS} partition, {DLQ_RETENTION_MS // DAY_MS} days) holding the original bytes, "
        "the error and the consumer.",
        "",
        "| topic | key | partitions | retention | published by | consumed by | purpose |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in ALL_TOPICS:
        kept = "compacted" if t.compacted else f"{t.retention_ms // DAY_MS} d"
        lines.append(
            f"| `{t.name}` | {t.key} | {t.partitions} | {kept} | "
            f"{', '.join(t.publishers)} | {', '.join(t.consumers) or '(shops via API)'} | {t.purpose} |"
        )
    return "\n".join(lines) + "\n"
