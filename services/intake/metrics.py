"""Intake's Prometheus collectors (process-wide registry; exposed on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONTACTS = Counter(
    "careloop_intake_contacts_total",
    "Customer contacts received, by channel and what became of them",
    ["channel", "outcome"],
)
TICKETS_CREATED = Counter(
    "careloop_intake_tickets_created_total",
    "Tickets opened, by channel, category, priority and source",
    ["channel", "category", "priority", "source"],
)
OPEN_TICKETS = Gauge(
    "careloop_intake_open_tickets", "Tickets not yet solved or closed, by shop and status", ["shop", "status"]
)
_HOURS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 4 * 3600.0, 8 * 3600.0, 24 * 3600.0, 72 * 3600.0, 7 * 86400.0)
FIRST_RESPONSE_SECONDS = Histogram(
    "careloop_intake_first_response_seconds",
    "Ticket creation to the first public agent reply (domain time), by shop and channel",
    ["shop", "channel"],
    buckets=_HOURS,
)
RESOLUTION_SECONDS = Histogram(
    "careloop_intake_resolution_seconds",
    "Ticket creation to solved (domain time)",
    ["channel", "category"],
    buckets=_HOURS,
)
SOLVED = Counter(
    "careloop_intake_tickets_solved_total",
    "Tickets solved, by whether they were first-contact resolutions",
    ["fcr"],
)
FCR_RATIO = Gauge(
    "careloop_intake_fcr_ratio",
    "Share of tickets solved in the last 30 days with one agent reply and no reopen",
)
REPEAT_CONTACTS = Counter(
    "careloop_intake_repeat_contacts_total",
    "New tickets from a customer who opened one about the same order within 7 days",
    ["channel"],
)
REOPENED = Counter("careloop_intake_tickets_reopened_total", "Tickets reopened", ["by"])
MERGED = Counter("careloop_intake_tickets_merged_total", "Tickets merged into another ticket")
ASSIGNMENTS = Counter(
    "careloop_intake_assignments_total",
    "Tickets given a team or an agent, by reason (auto, manual, take, escalation, released); queued:"
    " a team's policy found nobody with room, the ticket waits unassigned",
    ["reason"],
)
REJECTED = Counter(
    "careloop_intake_rejected_inputs_total",
    "Inputs intake refused, by where they came from and why",
    ["source", "reason"],
)
REPLIES = Counter(
    "careloop_intake_replies_total",
    "Public messages to customers written on tickets, by channel and whether automatic",
    ["channel", "automatic"],
)
REPLY_STATUS = Counter(
    "careloop_intake_reply_status_total",
    "Gateway reports on replies that changed a reply's recorded status, by status",
    ["status"],
)
INBOUND_EMAILS = Counter(
    "careloop_intake_inbound_emails_total",
    "Raw e-mails received on POST /v1/inbound/email, by what became of them",
    ["outcome"],
)
EMAILS_IGNORED = Counter(
    "careloop_intake_inbound_emails_ignored_total",
    "Automatic e-mails (auto-replies, bounces, loops) recorded and left out, by reason",
    ["reason"],
)
PLATFORM_DELIVERIES = Counter(
    "careloop_intake_platform_deliveries_total",
    "Shop platforms' webhook deliveries, by platform, topic (a mapped one, else other) and outcome",
    ["platform", "topic", "outcome"],
)
PLATFORM_EVENTS = Counter(
    "careloop_intake_platform_events_total",
    "Order events published from shop platforms' webhook deliveries, by platform and event type",
    ["platform", "type"],
)
# "Where is my order?" KPIs carry the shop (runtime.metrics.shop_label: within the label's budget), so
# each shop's operators see how many contacts the answers and the delay notices settled.
AUTOMATIC_ANSWERS = Counter(
    "careloop_intake_automatic_answers_total",
    "Automatic answers to 'where is my order?' sent, by shop and the contact's category",
    ["shop", "category"],
)
AUTOMATIC_ANSWER_OUTCOMES = Counter(
    "careloop_intake_automatic_answer_outcomes_total",
    "What became of automatic answers: deflected (the customer did not write back) or came_back",
    ["shop", "outcome"],
)
CONTACTS_AFTER_NOTICE = Counter(
    "careloop_intake_contacts_after_notice_total",
    "'Where is my order?' contacts about an order whose delay the shop had told the customer of",
    ["shop", "answered"],
)
HOUSEKEEPING = Counter(
    "careloop_intake_housekeeping_total",
    "Tickets intake acted on by itself: auto_close, reminded, no_reply (a pending ticket solved)",
    ["action"],
)
CONTINUED_CLOSED = Counter(
    "careloop_intake_tickets_continuing_closed_total",
    "New tickets opened by a customer's message on a closed ticket (linked to it)",
    ["channel"],
)
AUDIT_RECORDS = Counter("careloop_intake_audit_records_total", "Audit records appended to the audit log")
AUDIT_PURGED = Counter(
    "careloop_intake_audit_purged_total", "Audit records deleted after the log's retention"
)
PRIVACY_REQUESTS = Counter(
    "careloop_intake_privacy_requests_total",
    "Privacy requests received, by kind (erasure, export) and where from (api, shopify)",
    ["kind", "source"],
)
PRIVACY_COMPLETED = Counter(
    "careloop_intake_privacy_requests_completed_total",
    "Privacy requests every service has answered, by kind",
    ["kind"],
)
PRIVACY_PENDING = Gauge(
    "careloop_intake_privacy_requests_pending", "Privacy requests some service has not answered yet"
)
PRIVACY_OLDEST_PENDING = Gauge(
    "careloop_intake_privacy_oldest_pending_seconds",
    "Age of the oldest privacy request some service has not answered yet (0 when none is pending)",
)
RETENTION_PURGED = Counter(
    "careloop_intake_retention_purged_total",
    "Rows whose texts a retention removed: message_body (a shop's setting), privacy_export (exports' rows)",
    ["kind"],
)
