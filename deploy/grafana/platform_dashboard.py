"""The Platform dashboard: the shared runtime of every service (no shop selector: none of its series is a
shop's). Part of `generate.py`'s dashboards."""

from __future__ import annotations

from dashkit import Dashboard, Query, series, stat

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
