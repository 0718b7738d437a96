"""CareLoop's Grafana dashboards as code: `python deploy/grafana/generate.py` rewrites dashboards/*.json.

tests/ops checks that the committed JSON is what this renders, that every query parses and names only
metrics the services export, and that every panel shows data once the stack has had traffic.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dashkit import Dashboard, Query, Variable, render, series, stat
from platform_dashboard import PLATFORM

OUT_DIR = Path(__file__).parent / "dashboards"
SHOP = Variable(
    "shop",
    "Shop",
    "The shops whose series the panels show (the KPI series' shop label; shops past the label's budget "
    "are counted together as (other)). Panels of the platform itself (queues, timers) show every shop.",
)
S = 'shop=~"$shop"'
"""The matcher of the selected shops, for the series that carry a shop."""


def first_response(quantile: float) -> str:
    """The selected shops' first response quantile by channel: their buckets summed, then the quantile
    (quantiles of shops cannot be combined)."""
    buckets = f"careloop:first_response_seconds_bucket:rate1h{{{S}}}"
    return f"histogram_quantile({quantile}, sum by (channel, le) ({buckets}))"


CARE = Dashboard(
    uid="careloop-care-overview",
    variables=(SHOP,),
    title="CareLoop / Care overview",
    description="Contacts and tickets by channel and category, first response and resolution times, "
    "SLA compliance, first-contact resolution, repeat contacts and the backlog. Durations are domain time.",
    panels=(
        stat(
            "Open tickets", f"sum(careloop:open_tickets:max{{{S}}})", description="Not yet solved or closed."
        ),
        stat(
            "First response p90 (1h)",
            f"max({first_response(0.9)})",
            unit="s",
            description="Slowest channel's 90th percentile over the last hour, the selected shops together.",
        ),
        stat(
            "First response SLA compliance (7d)",
            f'min(careloop:sla_compliance:ratio7d{{metric="first_response", {S}}})',
            unit="percentunit",
            description="The lowest of the selected shops.",
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
            Query(first_response(0.5), "{{channel}} p50"),
            Query(first_response(0.9), "{{channel}} p90"),
            unit="s",
            description="The selected shops together (their buckets summed before the quantile).",
        ),
        series(
            "Resolution time by channel (p50, p90)",
            Query("careloop:resolution_seconds:p50_1h", "{{channel}} p50"),
            Query("careloop:resolution_seconds:p90_1h", "{{channel}} p90"),
            unit="s",
        ),
        series(
            "SLA compliance by shop and metric (7d)",
            Query(f"careloop:sla_compliance:ratio7d{{{S}}}", "{{shop}} {{metric}}"),
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
        series(
            "Backlog by status", Query(f"sum by (status) (careloop:open_tickets:max{{{S}}})", "{{status}}")
        ),
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
    variables=(SHOP,),
    title="CareLoop / SLA",
    description="SLA clocks: breaches by policy and metric, time to breach, warnings, escalations, order "
    "promises, and how punctually the timers fire.",
    panels=(
        stat("Open clocks", "sum(careloop:sla_open_clocks:max)"),
        stat(
            "Breaches (1h)",
            f"sum(careloop:sla_breaches:increase1h{{{S}}})",
            description="Targets the selected shops breached in the last hour, all metrics.",
        ),
        stat(
            "Resolution SLA compliance (7d)",
            f'min(careloop:sla_compliance:ratio7d{{metric="resolution", {S}}})',
            unit="percentunit",
            description="The lowest of the selected shops.",
        ),
        stat("Timer lag p99", "max(careloop:sla_timer_lag_seconds:p99_5m)", unit="s"),
        series(
            "Breaches by policy and metric (1h)",
            Query(f"careloop:sla_breaches:increase1h{{{S}}}", "{{shop}} {{policy}} {{metric}} {{channel}}"),
            description="Policy ids repeat from shop to shop (the shipped defaults): a line names its shop.",
        ),
        series(
            "Breaches by shop (1h)",
            Query(f"sum by (shop) (careloop:sla_breaches:increase1h{{{S}}})", "{{shop}}"),
            description="Which shop is breaching.",
        ),
        series(
            "Breached share of finished targets",
            Query(f"careloop:sla_breach:ratio1h{{{S}}}", "{{shop}} {{metric}} 1h"),
            Query(f"careloop:sla_breach:ratio1d{{{S}}}", "{{shop}} {{metric}} 1d"),
            unit="percentunit",
        ),
        series(
            "Time to breach p50 by metric",
            Query("careloop:sla_time_to_breach_seconds:p50_1d", "{{metric}}"),
            unit="s",
            description="Wall time from a clock's start to its breach (pauses included), every shop; a "
            "shop's own is in its SLA report (GET /v1/reports/sla).",
        ),
        series(
            "Targets met by metric (1h)",
            Query(f"sum by (metric) (careloop:sla_met:increase1h{{{S}}})", "{{metric}}"),
        ),
        series(
            "Warnings by metric (30m)",
            Query(f"sum by (metric) (careloop:sla_warnings:increase30m{{{S}}})", "{{metric}}"),
        ),
        series(
            "Escalations by metric and level (1h)",
            Query(
                f"sum by (metric, level) (careloop:sla_escalations:increase1h{{{S}}})", "{{metric}} {{level}}"
            ),
        ),
        series("Open clocks by metric", Query("careloop:sla_open_clocks:max", "{{metric}}")),
        series(
            "Order promises broken (1h)",
            Query(f"sum by (promise) (careloop:sla_promise_breaches:increase1h{{{S}}})", "{{promise}}"),
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
    variables=(SHOP,),
    title="CareLoop / Webhooks",
    description="Signed webhook deliveries to the shops: outcomes, latency, failing and disabled endpoints, "
    "the delivery queue and its dead letters.",
    panels=(
        stat(
            "Attempt success (5m)",
            f'sum(careloop:webhook_attempts:rate5m{{outcome="success", {S}}})'
            f" / sum(careloop:webhook_attempts:rate5m{{{S}}})",
            unit="percentunit",
            description="The selected shops' attempts together.",
        ),
        stat("Delivery queue", "careloop:webhook_queue_depth:max", description="Pending or in flight."),
        stat("Oldest pending delivery", "careloop:webhook_oldest_pending_age_seconds:max", unit="s"),
        stat(
            "Dead-lettered deliveries",
            "max(careloop_notify_dead_letter_deliveries)",
            description="Failed every retry and not replayed yet.",
        ),
        series(
            "Deliveries by outcome and event type",
            Query(
                f"sum by (outcome, event_type) (careloop:webhook_deliveries:rate5m{{{S}}})",
                "{{outcome}} {{event_type}}",
            ),
            unit="ops",
        ),
        series(
            "Attempts by outcome",
            Query(f"sum by (outcome) (careloop:webhook_attempts:rate5m{{{S}}})", "{{outcome}}"),
            unit="ops",
        ),
        series(
            "Attempt success by shop (5m)",
            Query(f"careloop:webhook_success:ratio5m{{{S}}}", "{{shop}}"),
            unit="percentunit",
            description="Whose endpoints fail: below 80% for 15 minutes is CareLoopWebhookDeliveriesFailing.",
        ),
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
                f'sum(rate(careloop_notify_attempts_total{{outcome!="success", {S}}}[5m]))',
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
    variables=(SHOP,),
    title="CareLoop / Satisfaction",
    description="Post-purchase and post-ticket surveys: NPS, CSAT and CES per shop over the trailing window, "
    "response rate, answers and detractors.",
    panels=(
        stat(
            "NPS", f'avg(careloop:survey_score:max{{kind="nps", {S}}})', decimals=0, description="-100..100"
        ),
        stat(
            "CSAT",
            f'avg(careloop:survey_score:max{{kind="csat", {S}}})',
            unit="percent",
            description="% of 4-5",
        ),
        stat(
            "CES",
            f'avg(careloop:survey_score:max{{kind="ces", {S}}})',
            decimals=2,
            description="mean effort 1-7",
        ),
        stat(
            "Response rate",
            f"avg(careloop:survey_response_rate_percent:max{{{S}}})",
            unit="percent",
        ),
        series("NPS by shop", Query(f'careloop:survey_score:max{{kind="nps", {S}}}', "{{shop}}")),
        series(
            "CSAT by shop",
            Query(f'careloop:survey_score:max{{kind="csat", {S}}}', "{{shop}}"),
            unit="percent",
        ),
        series("CES by shop", Query(f'careloop:survey_score:max{{kind="ces", {S}}}', "{{shop}}")),
        series(
            "Response rate by survey",
            Query(f"careloop:survey_response_rate_percent:max{{{S}}}", "{{shop}} {{kind}}"),
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
