"""The survey service's Prometheus collectors (process-wide registry, served on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SCHEDULED = Counter("careloop_survey_scheduled_total", "Survey invitations scheduled", ["kind"])
DECISIONS = Counter(
    "careloop_survey_decisions_total", "Send/suppress decisions on due invitations", ["kind", "reason"]
)
SEND_FAILURES = Counter(
    "careloop_survey_send_failures_total", "Due invitations whose processing raised", ["kind"]
)
SWEEP_SECONDS = Histogram(
    "careloop_survey_sweep_seconds",
    "Time of one pass over due invitations",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
ANSWERS = Counter("careloop_survey_answers_total", "Survey answers accepted", ["kind", "via"])
DETRACTORS = Counter("careloop_survey_detractors_total", "survey.detractor events emitted", ["kind"])
TOKEN_REFUSALS = Counter(
    "careloop_survey_token_refusals_total", "Answer-link uses refused, by reason", ["reason"]
)
PAGE_SECONDS = Histogram(
    "careloop_survey_page_seconds",
    "Time to serve the answer page, by method",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
SCORE = Gauge(
    "careloop_survey_score",
    "Trailing score per shop: NPS (-100..100), CSAT (% of 4-5), CES (mean 1-7)",
    ["shop", "kind"],
)
RESPONSE_RATE = Gauge(
    "careloop_survey_response_rate_percent", "Trailing share of invitations answered", ["shop", "kind"]
)
