"""What a `make bench` run measures and for how long: the full plan and the quick smoke plan."""

from __future__ import annotations

from dataclasses import dataclass

from bench.figures import WISMO_RATE
from bench.report import SLA_CLOCKS


@dataclass(frozen=True)
class Plan:
    repeats: int = 3
    ingest_events: int = 1_000_000
    ingest_window: float = 30.0
    ingest_service_repeats: int = 1
    e2e_seconds: dict[int, float] | None = None
    """Seconds of offered load per rate; events = rate x seconds."""
    e2e_repeats: int = 2
    ladder_start: float = 250.0
    ladder_max: float = 16_000.0
    ladder_min: float = 30.0
    ladder_seconds: float = 3.0
    overload_seconds: float = 25.0
    """Seconds of offered overload: long enough for a backlog whose cost would show as a collapse."""
    scale_rate: float = 3000.0
    """Offered rate of the one-against-two notify processes runs: above what either delivers."""
    scale_seconds: float = 10.0
    scale_repeats: int = 2
    intake_concurrency: int = 16
    intake_seconds: float = 8.0
    shopify_file_rate: float = 2000.0
    """Signed Shopify deliveries written per second of each wrk run (bench/shopify_orders.py): more
    than the adapter answers here, so a run never wraps to a repeated, duplicate delivery."""
    intake_prefill_tickets: int = 1_000_000
    """Tickets pre-filled in intake's schema for the contact rate at a large shop's size
    (bench/intake_prefill.py)."""
    intake_prefill_shops: int = 200
    intake_prefill_share: float = 0.25
    """Of the pre-filled tickets, the share of the shop the contacts go to."""
    sla_clocks: tuple[int, ...] = SLA_CLOCKS
    sla_repeats: int = 1
    sla_window: float = 60.0
    """Seconds over which the due clocks' deadlines fall, for bench/sla_timers.py and its ceiling alike."""
    sla_due: int | None = 100_000
    """Of the open clocks, how many fall due in the window (the rest a day later); None: all. One
    number for every count, so the figures differ only in how many clocks are open."""
    sla_burst: int = 100_000
    """Clocks all due at the same instant, for the drain rate."""
    sla_lead: float | None = None
    """Seconds from the start of the clock insert to the first deadline; None: enough for this machine
    to insert them (~180 s per million), so the lag measured is the sweep's, not the insert's."""
    timers_lead: float = 10.0
    """The bare timer table inserts a million rows in seconds: it needs no longer lead."""
    survey_concurrency: int = 16
    survey_seconds: float = 8.0
    survey_tokens: int = 20_000
    """Sent invitations whose tokens wrk walks: more than one run's requests at the page's rate."""
    wismo_rate: float = WISMO_RATE
    wismo_seconds: float = 20.0
    """Seconds of contacts offered per bench/wismo.py run."""
    wismo_repeats: int = 3
    workspace_requests: int = 200
    """Queue pages (and as many ticket pages) asked for per bench/workspace.py run, one at a time."""
    reports_tickets: int = 1_000_000
    reports_order_events: int = 5_000_000
    """Issue #16: the intake report over a million tickets and five million order events of 200 shops
    (bench/reports_bench.py)."""
    reports_requests: int = 200
    """Reports timed per run, one at a time (a fifth as many whole years of the large shop)."""
    reports_repeats: int = 1
    reports_timeout: float = 900.0
    """The pre-fill takes most of a run: minutes at the full size."""
    wrk_threads: int = 1
    """One wrk thread keeps the generator's share of the 2 cores small; its CPU is in the report."""
    script_timeout: float = 300.0

    def lead_for(self, clocks: int) -> float:
        return self.sla_lead if self.sla_lead is not None else max(20.0, 180.0 * clocks / 1_000_000)

    def events_at(self, rate: int) -> int:
        seconds = (self.e2e_seconds or {}).get(rate, 5.0)
        return max(20, int(rate * seconds))


FULL = Plan(e2e_seconds={100: 4.0, 1000: 2.0, 5000: 1.0}, ladder_start=500.0)
QUICK = Plan(
    repeats=1,
    ingest_events=20_000,  # 10 batches of 2,000: a service faster than the 0.25 s samples still gets a rate
    ingest_window=5.0,
    e2e_seconds={100: 1.0, 1000: 0.3, 5000: 0.1},
    e2e_repeats=1,
    ladder_start=250.0,
    ladder_max=500.0,
    ladder_min=125.0,
    ladder_seconds=0.3,
    overload_seconds=2.0,
    scale_rate=1000.0,
    scale_seconds=1.0,
    scale_repeats=1,
    intake_concurrency=4,
    intake_seconds=2.0,
    intake_prefill_tickets=10_000,
    sla_clocks=(1000, 5000),
    sla_window=2.0,
    sla_due=None,
    sla_burst=2000,
    sla_lead=4.0,
    timers_lead=2.0,
    survey_concurrency=4,
    survey_seconds=2.0,
    survey_tokens=500,
    wismo_seconds=3.0,
    wismo_repeats=1,
    workspace_requests=30,
    reports_tickets=20_000,
    reports_order_events=100_000,
    reports_requests=40,
    reports_timeout=180.0,
    script_timeout=120.0,
)
