"""Every figure of the benchmark report: its name, title, unit, which way is better, its ceiling (the
same work done the barest way, or what it is compared with, measured in the same run) and its target."""

from __future__ import annotations

from dataclasses import dataclass

from bench.common import SERVICES

E2E_LOADS = (100, 1000, 5000)
SLA_CLOCKS = (100_000, 1_000_000)
WISMO_RATE = 50.0
"""Issue #14: automatic answers' latency at 50 contacts/s (the quick plan keeps the rate)."""
QUEUE_TICKETS = 500


CONSTANT_ROUTE = "same route returning a constant (make_api, same auth and body model), same wrk load"
SHOPIFY_CONSTANT = (
    "same path in the constant app (make_api) reading the same raw body and answering the adapter's "
    "fixed 200 JSON, no signature check, same signed wrk load"
)
HELLO = "bare hello-world ASGI app on the same uvicorn/uvloop/httptools stack, same wrk load"
EMPTY_SCHEMA = "intake on an empty schema, same wrk load, its runs alternating with the pre-filled one's"


@dataclass(frozen=True)
class FigureSpec:
    name: str
    title: str
    unit: str
    better: str  # "higher" or "lower"
    ceiling: str | None
    """None: nothing barer does the same work (docs/benchmarks.md says why, figure by figure)."""
    target: str | None = None


def _specs() -> list[FigureSpec]:
    bare = "bare aiokafka consumer (read + commit), same topic"
    specs = [
        FigureSpec(
            f"ingest.{s}",
            f"Order-event ingest, {s}",
            "events/s",
            "higher",
            bare,
            ">= 0.5 of the bare consumer's rate",
        )
        for s in SERVICES
    ]
    pipe = "bare producer → consumer → httpx POST, no durability"
    for load in E2E_LOADS:
        for pct in ("p50", "p95", "p99"):
            target = "< 100 ms" if (load, pct) == (1000, "p99") else None
            specs.append(
                FigureSpec(
                    f"e2e.{load}.{pct}_ms",
                    f"Event → signed webhook {pct} at {load:,} events/s offered",
                    "ms",
                    "lower",
                    pipe,
                    target,
                )
            )
    specs += [
        FigureSpec(
            "e2e.max_sustainable_rate",
            "Event → webhook, max sustainable offered rate",
            "events/s",
            "higher",
            pipe,
            ">= 2,000 events/s",
        ),
        FigureSpec(
            "e2e.overload_per_s",
            "Event → webhook delivered throughput offered twice the max sustainable rate",
            "deliveries/s",
            "higher",
            "notify's own max sustainable offered rate (e2e.max_sustainable_rate), same run",
            ">= 0.9 of the max sustainable rate (no collapse)",
        ),
        *(
            FigureSpec(
                f"e2e.overload.{pct}_ms",
                f"Event → signed webhook {pct} offered twice the max sustainable rate",
                "ms",
                "lower",
                "bare pipeline under the same overload (rate and events)",
            )
            for pct in ("p50", "p99")
        ),
        FigureSpec(
            "scale.notify_1_per_s",
            "Event → webhook throughput, one notify process",
            "deliveries/s",
            "higher",
            "bare pipeline under the same offered load",
        ),
        FigureSpec(
            "scale.notify_2_per_s",
            "Event → webhook throughput, two notify processes in one consumer group",
            "deliveries/s",
            "higher",
            "one notify process under the same offered load (scale.notify_1_per_s), same run",
            ">= one process's rate",
        ),
        FigureSpec(
            "intake.contacts_per_s",
            "Intake POST /v1/contacts throughput",
            "contacts/s",
            "higher",
            CONSTANT_ROUTE,
            ">= 0.3 of the constant route",
        ),
        FigureSpec("intake.p99_ms", "Intake POST /v1/contacts p99", "ms", "lower", CONSTANT_ROUTE, "< 50 ms"),
        FigureSpec(
            "intake.constant_route_per_s",
            "Constant route POST /v1/contacts (intake's ceiling) throughput",
            "requests/s",
            "higher",
            HELLO,
        ),
        FigureSpec(
            "intake.shopify.deliveries_per_s",
            "Intake Shopify adapter POST /v1/platforms/shopify/{shop} throughput, orders/create",
            "deliveries/s",
            "higher",
            SHOPIFY_CONSTANT,
        ),
        FigureSpec(
            "intake.shopify.p99_ms",
            "Intake Shopify adapter POST /v1/platforms/shopify/{shop} p99, orders/create",
            "ms",
            "lower",
            SHOPIFY_CONSTANT,
        ),
        FigureSpec(
            "intake.prefilled.contacts_per_s",
            "Intake POST /v1/contacts throughput, schema pre-filled with a large shop's tickets",
            "contacts/s",
            "higher",
            EMPTY_SCHEMA,
            ">= 0.9 of the rate on the empty schema",
        ),
        FigureSpec(
            "intake.prefilled.p99_ms",
            "Intake POST /v1/contacts p99, schema pre-filled with a large shop's tickets",
            "ms",
            "lower",
            EMPTY_SCHEMA,
            "< 50 ms",
        ),
    ]
    for clocks in SLA_CLOCKS:
        specs.append(
            FigureSpec(
                f"sla.lag_p99_ms.{clocks}",
                f"SLA timer lag p99 with {clocks:,} open clocks",
                "ms",
                "lower",
                "bare timer table, same count open and due over the same window: indexed due_at, "
                "0.2 s SKIP LOCKED sweep, lag at commit",
                "< 1000 ms" if clocks == 1_000_000 else None,
            )
        )
    specs.append(
        FigureSpec(
            "sla.drained_per_s",
            "SLA timers fired per second, a burst all due at once",
            "timers/s",
            "higher",
            "bare timer table, same burst: rows claimed and deleted per second",
        )
    )
    page = "constant 4 KiB page from the constant app (make_api), same wrk load"
    specs += [
        FigureSpec(
            "survey.requests_per_s",
            "Survey answer page throughput",
            "requests/s",
            "higher",
            page,
            ">= 0.6 of the constant page",
        ),
        FigureSpec("survey.p99_ms", "Survey answer page p99", "ms", "lower", page),
        FigureSpec(
            "survey.constant_page_per_s",
            "Constant page GET /s/{token} (the survey's ceiling) throughput",
            "requests/s",
            "higher",
            HELLO,
        ),
    ]
    specs += _answers_and_workspace()
    specs += _reports()
    specs += [
        FigureSpec(
            f"memory.{s}_mib",
            f"Peak RSS, {s}",
            "MiB",
            "lower",
            "the service's code imported and its app built, idle",
            "< 100 MiB (the highest of its processes)",
        )
        for s in SERVICES
    ]
    return specs


def _answers_and_workspace() -> list[FigureSpec]:
    """Issue #14's automatic answers, each leg beside the one before it on the same contacts (no
    numeric target: the issue asks for p50/p99), and issue #15's queue page (no ceiling)."""
    legs = {
        "replied": (
            "ticket.replied on Kafka",
            "the same contacts' HTTP answer (201): the answer is committed in the contact's "
            "transaction, so the outbox relay and Kafka are the difference",
        ),
        "webhook": (
            "reply webhook received",
            "the same contacts' ticket.replied on Kafka (wismo.replied), same run: notify's consumer, "
            "delivery queue and signed POST are the difference",
        ),
    }
    specs = [
        FigureSpec(
            f"wismo.{leg}.{pct}_ms",
            f"Automatic answer, POST /v1/contacts → {what} {pct} at {WISMO_RATE:g} contacts/s",
            "ms",
            "lower",
            ceiling,
        )
        for leg, (what, ceiling) in legs.items()
        for pct in ("p50", "p99")
    ]
    specs += [
        FigureSpec(
            f"workspace.queue.{pct}_ms",
            f"Workspace queue page of {QUEUE_TICKETS} tickets, server time (Server-Timing) {pct}",
            "ms",
            "lower",
            None,
            "< 100 ms" if pct == "p99" else None,
        )
        for pct in ("p50", "p99")
    ]
    return specs


def _reports() -> list[FigureSpec]:
    """Issue #16's intake report over 1,000,000 tickets and 5,000,000 order events of 200 shops, beside
    the same statements on bare copies of the rows; and a customer's 360 (no barer way to it)."""
    bare = "the same statements on bare copies of the rows (asyncpg, same indexes, no service)"
    return [
        FigureSpec(
            "reports.intake.p50_ms",
            "Intake report p50, 7 to 90 days, large and small shops",
            "ms",
            "lower",
            bare,
        ),
        FigureSpec(
            "reports.intake.p99_ms",
            "Intake report p99, 7 to 90 days, large and small shops",
            "ms",
            "lower",
            bare,
            "< 300 ms",
        ),
        FigureSpec(
            "reports.intake.year_p99_ms",
            "Intake report p99, a whole year of the large shop",
            "ms",
            "lower",
            bare,
        ),
        FigureSpec(
            "reports.customer_360.p99_ms", "Customer 360 p99, the large shop's customers", "ms", "lower", None
        ),
    ]


SPECS: list[FigureSpec] = _specs()
FIGURE_NAMES: tuple[str, ...] = tuple(s.name for s in SPECS)
