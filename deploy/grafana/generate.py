"""CareLoop's Grafana dashboards as code: `python deploy/grafana/generate.py` rewrites dashboards/*.json.

tests/ops checks that the committed JSON is what this renders, that every query parses and names only
metrics the services export, and that every panel shows data once the stack has had traffic.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dashkit import Dashboard, Query, render, series, stat

OUT_DIR = Path(__file__).parent / "dashboards"
SERVICES = 'job="careloop"'

PLATFORM = Dashboard(
    uid="careloop-platform",
    title="CareLoop / Platform",
    description="The shared runtime: process health, consumption and its delay, dead letters, the outbox.",
    panels=(
        stat("Service processes up", f"sum(up{{{SERVICES}}})", description="Scraped service processes."),
        stat(
            "Outbox backlog", "sum(careloop_outbox_backlog)", description="Committed events not yet in Kafka."
        ),
        stat(
            "Oldest unrelayed event",
            "max(careloop_outbox_oldest_age_seconds)",
            unit="s",
            description="Age of the oldest outbox row; above a minute CareLoopOutboxStuck fires.",
        ),
        stat(
            "Dead letters (1h)",
            "sum(careloop:dead_letters:increase1h)",
            description="Events sent to <topic>.dlq in the last hour; any is CareLoopDeadLetters.",
        ),
        series(
            "Process health (up)",
            Query(f"up{{{SERVICES}}}", "{{app}} {{instance}}"),
            description="1 = scraped; 0 for a minute = CareLoopServiceDown.",
        ),
        series(
            "Consumer lag (records)",
            Query("careloop:consumer_lag_records:sum", "{{service}} {{topic}}"),
            description="Records not yet consumed and committed by the service's consumer groups.",
        ),
        series(
            "Events consumed by outcome",
            Query("sum by (service, outcome) (careloop:events_consumed:rate5m)", "{{service}} {{outcome}}"),
            unit="ops",
            description="applied, duplicate (redelivery, no second effect) or ignored (no handler).",
        ),
        series(
            "Consumer delay p95 (event time to committed effect)",
            Query("careloop:event_age_seconds:p95_5m", "{{service}}/{{consumer}}"),
            unit="s",
            description="How far behind real time each consumer applies events (the lag in seconds).",
        ),
        series(
            "Handle time p95 (transaction included)",
            Query("careloop:event_handle_seconds:p95_5m", "{{service}}/{{consumer}}"),
            unit="s",
        ),
        series(
            "Dead letters by consumer and reason (1h)",
            Query("careloop:dead_letters:increase1h", "{{service}}/{{consumer}} {{reason}}"),
        ),
        series(
            "Outbox backlog and relay rate",
            Query("sum by (service) (careloop_outbox_backlog)", "{{service}} backlog"),
            Query("careloop:outbox_published:rate5m", "{{service}} relayed/s"),
        ),
        series(
            "Kafka records received by subscriber",
            Query(
                "sum by (app_name, handler) (rate(careloop_faststream_received_messages_total[5m]))",
                "{{app_name}} {{handler}}",
            ),
            unit="ops",
        ),
        series(
            "HTTP requests refused by reason",
            Query("careloop:http_rejected:rate5m", "{{service}} {{reason}}"),
            unit="reqps",
            description="Missing or wrong API key, invalid or oversized bodies.",
        ),
        series(
            "Resident memory",
            Query(f"process_resident_memory_bytes{{{SERVICES}}}", "{{app}} {{instance}}"),
            unit="bytes",
        ),
        series(
            "CPU used (cores)",
            Query(f"rate(process_cpu_seconds_total{{{SERVICES}}}[5m])", "{{app}} {{instance}}"),
        ),
    ),
)

CARE = Dashboard(
    uid="careloop-care-overview",
    title="CareLoop / Care overview",
    description="Contacts and tickets by channel and category, first response and resolution times, "
    "SLA compliance, first-contact resolution, repeat contacts and the backlog. Durations are domain time.",
    panels=(
        stat("Open tickets", "sum(careloop:open_tickets:max)", description="Not yet solved or closed."),
        stat(
            "First response p90 (1h)",
            "max(careloop:first_response_seconds:p90_1h)",
            unit="s",
            description="Slowest channel's 90th percentile over the last hour.",
        ),
        stat(
            "First response SLA compliance (7d)",
            'careloop:sla_compliance:ratio7d{metric="first_response"}',
            unit="percentunit",
        ),
        stat("First-contact resolution (30d)", "careloop:fcr:ratio30d", unit="percentunit"),
        series(
            "Contacts by channel",
            Query("sum by (channel) (careloop:contacts:rate5m)", "{{channel}}"),
            unit="ops",
        ),
        series(
            "Tickets created by category",
            Query("sum by (category) (careloop:tickets_created:rate5m)", "{{category}}"),
            unit="ops",
        ),
        series(
            "First response time by channel (p50, p90)",
            Query("careloop:first_response_seconds:p50_1h", "{{channel}} p50"),
            Query("careloop:first_response_seconds:p90_1h", "{{channel}} p90"),
            unit="s",
        ),
        series(
            "Resolution time by channel (p50, p90)",
            Query("careloop:resolution_seconds:p50_1h", "{{channel}} p50"),
            Query("careloop:resolution_seconds:p90_1h", "{{channel}} p90"),
            unit="s",
        ),
        series(
            "SLA compliance by metric (7d)",
            Query("careloop:sla_compliance:ratio7d", "{{metric}}"),
            unit="percentunit",
        ),
        series(
            "First-contact resolution",
            Query("careloop:fcr:ratio30d", "last 30 days"),
            Query("careloop:fcr:ratio1d", "solved in the last day"),
            unit="percentunit",
        ),
        series(
            "Repeat contacts by channel (1d)",
            Query("careloop:repeat_contacts:increase1d", "{{channel}}"),
            description="New tickets from a customer who opened one about the same order within 7 days.",
        ),
        series("Backlog by status", Query("careloop:open_tickets:max", "{{status}}")),
        series(
            "Tickets reopened and merged (1h)",
            Query("sum by (by) (increase(careloop_intake_tickets_reopened_total[1h]))", "reopened by {{by}}"),
            Query("sum(increase(careloop_intake_tickets_merged_total[1h]))", "merged"),
        ),
        series(
            "Tickets created by priority",
            Query("sum by (priority) (careloop:tickets_created:rate5m)", "{{priority}}"),
            unit="ops",
        ),
        series(
            "Inputs refused by intake",
            Query("careloop:intake_rejected:rate5m", "{{source}} {{reason}}"),
            unit="ops",
        ),
    ),
)

SLA = Dashboard(
    uid="careloop-sla",
    title="CareLoop / SLA",
    description="SLA clocks: breaches by policy and metric, time to breach, warnings, escalations, order "
    "promises, and how punctually the timers fire.",
    panels=(
        stat("Open clocks", "sum(careloop:sla_open_clocks:max)"),
        stat(
            "Breaches (1h)",
            "sum(careloop:sla_breaches:increase1h)",
            description="Targets breached in the last hour, all metrics.",
        ),
        stat(
            "Resolution SLA compliance (7d)",
            'careloop:sla_compliance:ratio7d{metric="resolution"}',
            unit="percentunit",
        ),
        stat("Timer lag p99", "max(careloop:sla_timer_lag_seconds:p99_5m)", unit="s"),
        series(
            "Breaches by policy and metric (1h)",
            Query("careloop:sla_breaches:increase1h", "{{policy}} {{metric}} {{channel}}"),
        ),
        series(
            "Breached share of finished targets",
            Query("careloop:sla_breach:ratio1h", "{{metric}} 1h"),
            Query("careloop:sla_breach:ratio1d", "{{metric}} 1d"),
            unit="percentunit",
        ),
        series(
            "Time to breach p50 by metric",
            Query("careloop:sla_time_to_breach_seconds:p50_1d", "{{metric}}"),
            unit="s",
            description="Wall time from a clock's start to its breach (pauses included).",
        ),
        series(
            "Targets met by metric (1h)",
            Query("sum by (metric) (careloop:sla_met:increase1h)", "{{metric}}"),
        ),
        series("Warnings by metric (30m)", Query("careloop:sla_warnings:increase30m", "{{metric}}")),
        series(
            "Escalations by metric and level (1h)",
            Query(
                "sum by (metric, level) (increase(careloop_sla_escalations_total[1h]))",
                "{{metric}} {{level}}",
            ),
        ),
        series("Open clocks by metric", Query("careloop:sla_open_clocks:max", "{{metric}}")),
        series(
            "Order promises broken (1h)",
            Query("sum by (promise) (increase(careloop_sla_promise_breaches_total[1h]))", "{{promise}}"),
        ),
        series(
            "Timer lag p99 and sweep batch time p95",
            Query("careloop:sla_timer_lag_seconds:p99_5m", "lag {{timer}}"),
            Query("careloop:sla_sweep_batch_seconds:p95_5m", "batch {{timer}}"),
            unit="s",
        ),
    ),
)

WEBHOOKS = Dashboard(
    uid="careloop-webhooks",
    title="CareLoop / Webhooks",
    description="Signed webhook deliveries to the shops: outcomes, latency, failing and disabled endpoints, "
    "the delivery queue and its dead letters.",
    panels=(
        stat("Attempt success (5m)", "careloop:webhook_success:ratio5m", unit="percentunit"),
        stat("Delivery queue", "careloop:webhook_queue_depth:max", description="Pending or in flight."),
        stat("Oldest pending delivery", "careloop:webhook_oldest_pending_age_seconds:max", unit="s"),
        stat(
            "Dead-lettered deliveries",
            "max(careloop_notify_dead_letter_deliveries)",
            description="Failed every retry and not replayed yet.",
        ),
        series(
            "Deliveries by outcome and event type",
            Query("careloop:webhook_deliveries:rate5m", "{{outcome}} {{event_type}}"),
            unit="ops",
        ),
        series("Attempts by outcome", Query("careloop:webhook_attempts:rate5m", "{{outcome}}"), unit="ops"),
        series(
            "Delivery latency (event time to 2xx)",
            Query("careloop:webhook_delivery_latency_seconds:p50_5m", "p50"),
            Query("careloop:webhook_delivery_latency_seconds:p95_5m", "p95"),
            unit="s",
        ),
        series(
            "Attempt duration p95 and attempts in flight",
            Query("careloop:webhook_attempt_seconds:p95_5m", "attempt p95 (s)"),
            Query("sum(careloop_notify_in_flight)", "in flight"),
        ),
        series(
            "Delivery queue and oldest pending",
            Query("careloop:webhook_queue_depth:max", "queued"),
            Query("careloop:webhook_oldest_pending_age_seconds:max", "oldest pending (s)"),
        ),
        series(
            "Failing and disabled endpoints",
            Query("max(careloop_notify_disabled_endpoints)", "disabled now"),
            Query(
                'sum(rate(careloop_notify_attempts_total{outcome!="success"}[5m]))',
                "failed attempts/s",
            ),
        ),
        series(
            "Deliveries queued by event type",
            Query(
                "sum by (event_type) (rate(careloop_notify_deliveries_queued_total[5m]))", "{{event_type}}"
            ),
            unit="ops",
        ),
    ),
)

SATISFACTION = Dashboard(
    uid="careloop-satisfaction",
    title="CareLoop / Satisfaction",
    description="Post-purchase and post-ticket surveys: NPS, CSAT and CES per shop over the trailing window, "
    "response rate, answers and detractors.",
    panels=(
        stat("NPS", 'avg(careloop:survey_score:max{kind="nps"})', decimals=0, description="-100..100"),
        stat("CSAT", 'avg(careloop:survey_score:max{kind="csat"})', unit="percent", description="% of 4-5"),
        stat("CES", 'avg(careloop:survey_score:max{kind="ces"})', decimals=2, description="mean effort 1-7"),
        stat(
            "Response rate",
            "avg(careloop:survey_response_rate_percent:max)",
            unit="percent",
        ),
        series("NPS by shop", Query('careloop:survey_score:max{kind="nps"}', "{{shop}}")),
        series("CSAT by shop", Query('careloop:survey_score:max{kind="csat"}', "{{shop}}"), unit="percent"),
        series("CES by shop", Query('careloop:survey_score:max{kind="ces"}', "{{shop}}")),
        series(
            "Response rate by survey",
            Query("careloop:survey_response_rate_percent:max", "{{shop}} {{kind}}"),
            unit="percent",
        ),
        series(
            "Answers by survey and channel (1h)",
            Query("careloop:survey_answers:increase1h", "{{kind}} {{via}}"),
        ),
        series("Detractors by survey (1d)", Query("careloop:survey_detractors:increase1d", "{{kind}}")),
        series(
            "Answer links refused (1h)",
            Query("sum by (reason) (increase(careloop_survey_token_refusals_total[1h]))", "{{reason}}"),
            description="Already answered, expired or unknown tokens (a burst of unknown ones is probing).",
        ),
        series(
            "Invitations scheduled and send decisions (1h)",
            Query("sum by (kind) (increase(careloop_survey_scheduled_total[1h]))", "scheduled {{kind}}"),
            Query(
                "sum by (kind, reason) (increase(careloop_survey_decisions_total[1h]))",
                "{{kind}} {{reason}}",
            ),
        ),
        series(
            "Answer page and invitation sweep time p95",
            Query("careloop:survey_page_seconds:p95_5m", "page {{method}}"),
            Query(
                "histogram_quantile(0.95, sum by (le) (rate(careloop_survey_sweep_seconds_bucket[5m])))",
                "sweep",
            ),
            unit="s",
        ),
    ),
)

DASHBOARDS: tuple[Dashboard, ...] = (CARE, SLA, WEBHOOKS, SATISFACTION, PLATFORM)


def rendered() -> dict[str, str]:
    """File name → JSON text, exactly as committed."""
    return {f"{d.uid}.json": json.dumps(render(d), indent=2, ensure_ascii=False) + "\n" for d in DASHBOARDS}


def main() -> int:
    OUT_DIR.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (OUT_DIR / name).write_text(text)
        print(f"wrote {OUT_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
