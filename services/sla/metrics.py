"""The SLA service's Prometheus collectors (process-wide registry, served on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OPEN_CLOCKS = Gauge("careloop_sla_open_clocks", "Running or paused SLA clocks", ["metric"])
COMPLIANCE = Gauge(
    "careloop_sla_compliance_ratio",
    "Share of finished targets met, over clocks started in the last 7 days",
    ["shop", "metric"],
)
# The KPI series a shop's operators need carry its shop (runtime.metrics.shop_label, within the label's
# budget); policy ids repeat from shop to shop (the shipped defaults), so a policy means nothing alone.
MET = Counter("careloop_sla_met_total", "Targets met", ["shop", "metric", "policy", "channel"])
BREACHES = Counter("careloop_sla_breaches_total", "Targets breached", ["shop", "metric", "policy", "channel"])
WARNINGS = Counter("careloop_sla_warnings_total", "Targets close to breaching", ["shop", "metric"])
ESCALATIONS = Counter("careloop_sla_escalations_total", "Escalations raised", ["shop", "metric", "level"])
PROMISE_BREACHES = Counter(
    "careloop_sla_promise_breaches_total", "Order promises broken", ["shop", "promise"]
)
TIME_TO_BREACH = Histogram(
    "careloop_sla_time_to_breach_seconds",
    "Wall time from a clock's start to its breach (pauses included)",
    ["metric"],
    buckets=(60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400, 7 * 86400),
)
TIMER_LAG = Histogram(
    "careloop_sla_timer_lag_seconds",
    "How late after its due instant a timer's event was written to the outbox",
    ["timer"],
    buckets=(0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30),
)
SWEEP_SECONDS = Histogram(
    "careloop_sla_sweep_batch_seconds",
    "Time to claim, fire and commit one batch of due timers",
    ["timer"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
TIMER_FAILURES = Counter(
    "careloop_sla_timer_failures_total", "Due timers that could not be processed and were deferred", ["timer"]
)
