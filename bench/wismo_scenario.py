"""`make bench`'s automatic-answer figures (issue #14): a customer's "where is my order?" from `POST
/v1/contacts` to `ticket.replied` on Kafka and to the reply webhook received, p50/p99 at 50
contacts/s, each beside the leg before it measured on the same contacts (bench/wismo.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.common import summarize
from bench.report import Report

if TYPE_CHECKING:
    from bench.run import Bench

PERCENTILES = ("p50", "p99")
LEGS = {"replied": "contact_to_ticket_replied_ms", "webhook": "contact_to_reply_webhook_ms"}
"""Figure leg -> the key of bench/wismo.py's document holding its latencies."""
CEILINGS = {"replied": "contact_http_ms", "webhook": "contact_to_ticket_replied_ms"}
"""Each leg beside the one before it, on the same contacts: the HTTP answer (the automatic answer is
committed in the contact's transaction) and the reply on Kafka (what notify then consumes)."""
ARRIVED = {"replied": "ticket.replied on Kafka", "webhook": "reply webhook"}
FIGURES = tuple(f"wismo.{leg}.{pct}_ms" for leg in LEGS for pct in PERCENTILES)
SETUP_SECONDS = 240.0
"""Two services to start, the orders to publish and fold in, and up to a minute for the replies and
another for their webhooks after the last contact."""


def leg_ms(run: dict[str, Any], key: str, pct: str) -> float:
    """A run's percentile of one leg; nan when it is unknown (it fell on a contact never answered)."""
    value = (run.get(key) or {}).get(pct)
    return float("nan") if value is None else float(value)


def run_note(runs: list[dict[str, Any]]) -> str:
    def each(key: str) -> str:
        return ", ".join(str(r.get(key)) for r in runs)

    first = runs[0]
    return (
        f"{first['contacts']:,} contacts offered at {first['offered_per_s']:g}/s per run, open loop, "
        f"each a new customer asking where their shipped order is; answered 201: {each('answered_201')}; "
        f"ticket.replied on Kafka: {each('replied_on_kafka')}; reply webhooks received: "
        f"{each('webhooks_received')}; duplicate webhook requests: {each('duplicate_webhook_requests')}"
    )


def set_figures(report: Report, runs: list[dict[str, Any]]) -> None:
    """Every leg's p50/p99 over the runs beside the leg before it; a percentile that fell on a contact
    whose reply never arrived is missing in that run, and the figure is missing if it is in all."""
    note = run_note(runs)
    for leg, key in LEGS.items():
        for pct in PERCENTILES:
            value = summarize([leg_ms(r, key, pct) for r in runs])
            ceiling = summarize([leg_ms(r, CEILINGS[leg], pct) for r in runs])
            missing = None
            if value["median"] is None:
                missing = f"in every run the {pct} fell on a contact whose {ARRIVED[leg]} never arrived"
            report.set(
                f"wismo.{leg}.{pct}_ms",
                value,
                ceiling,
                note=note if pct == "p99" else None,
                missing=missing,
            )


async def wismo(bench: Bench) -> None:
    plan = bench.plan
    runs: list[dict[str, Any]] = []
    bench.report.scenarios["wismo"] = {
        "rate": plan.wismo_rate,
        "seconds": plan.wismo_seconds,
        "runs": runs,
    }
    for _ in range(plan.wismo_repeats):
        runs.append(
            await bench.script(
                "bench.wismo",
                *("--rate", str(plan.wismo_rate), "--seconds", str(plan.wismo_seconds)),
                label="wismo.py (intake and notify)",
                timeout=plan.script_timeout + plan.wismo_seconds + SETUP_SECONDS,
            )
        )
    set_figures(bench.report, runs)
