"""The notify service's Prometheus collectors (process-wide registry, served on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# The KPI series a shop's operators need carry its shop (runtime.metrics.shop_label, within the label's
# budget): deliveries, attempts and endpoints disabled.
DELIVERIES = Counter(
    "careloop_notify_deliveries_total",
    "Deliveries finished, by shop, outcome (succeeded, dead_lettered) and event type",
    ["shop", "outcome", "event_type"],
)
DELIVERIES_QUEUED = Counter(
    "careloop_notify_deliveries_queued_total",
    "Deliveries written to the queue, by event type",
    ["event_type"],
)
ATTEMPTS = Counter(
    "careloop_notify_attempts_total",
    "HTTP attempts recorded in the attempts table, by shop and outcome (success, http_error, gone,"
    " timeout, connect_error, network_error, refused)",
    ["shop", "outcome"],
)
ATTEMPT_SECONDS = Histogram(
    "careloop_notify_attempt_seconds",
    "Duration of one HTTP attempt",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
)
DELIVERY_LATENCY = Histogram(
    "careloop_notify_delivery_latency_seconds",
    "Event time to the receiver's 2xx, retries included",
    ["event_type"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 86400),
)
QUEUE_DEPTH = Gauge("careloop_notify_queue_depth", "Deliveries not yet finished (pending or in flight)")
OLDEST_PENDING_AGE = Gauge(
    "careloop_notify_oldest_pending_age_seconds", "Age of the oldest unfinished delivery (domain time)"
)
DLQ_SIZE = Gauge("careloop_notify_dead_letter_deliveries", "Deliveries dead-lettered and not replayed")
ENDPOINTS_DISABLED = Gauge("careloop_notify_disabled_endpoints", "Endpoints currently disabled")
ENDPOINTS_DISABLED_TOTAL = Counter(
    "careloop_notify_endpoints_disabled_total",
    "Endpoints disabled by the service, by shop and reason (gone, failing)",
    ["shop", "reason"],
)
IN_FLIGHT = Gauge("careloop_notify_in_flight", "HTTP attempts under way in this process")
EMAILS_QUEUED = Counter("careloop_notify_emails_queued_total", "Reply e-mails queued for a shop's SMTP relay")
EMAILS = Counter(
    "careloop_notify_emails_total",
    "Reply e-mails finished, by outcome (sent, dead_lettered)",
    ["outcome"],
)
EMAIL_ATTEMPTS = Counter(
    "careloop_notify_email_attempts_total",
    "SMTP send attempts, by outcome (sent, temporary, permanent)",
    ["outcome"],
)
EMAIL_SECONDS = Histogram(
    "careloop_notify_email_attempt_seconds",
    "Duration of one SMTP send attempt (connect, TLS, login, send)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
RETENTION_PURGED = Counter(
    "careloop_notify_retention_purged_total",
    "Bodies a shop's retention removed from finished deliveries and reply e-mails, by kind",
    ["kind"],
)
