"""The live terminal summary of the demo: what the shop did, what the services made of it, and where
to look next. Numbers come from the services' /metrics and APIs (not from the demo's own bookkeeping,
except what only the demo knows: orders it published, webhooks it verified, answers it gave)."""

from __future__ import annotations

import asyncio
from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = list[tuple[str, dict[str, str], float]]


def parse_metrics(text: str, prefix: str) -> Samples:
    """(name, labels, value) of every sample whose name starts with `prefix`."""
    out: Samples = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith(prefix):
                out.append((sample.name, dict(sample.labels), float(sample.value)))
    return out


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == w for k, w in labels.items()))


def by_label(samples: Samples, name: str, label: str) -> Tally[str]:
    out: Tally[str] = Tally()
    for n, lab, v in samples:
        if n == name and v:
            out[lab.get(label, "?")] += int(v)
    return out


@dataclass
class Score:
    score: float | None = None
    answers: int = 0
    response_rate: float | None = None


@dataclass
class Snapshot:
    domain_now: datetime
    speed: float
    orders_created: int = 0
    order_events: int = 0
    contacts_sent: int = 0
    lost: int = 0
    """Order steps and contacts the demo could not deliver (Kafka or intake away)."""
    tickets_by_channel: Tally[str] = field(default_factory=Tally)
    open_tickets: int = 0
    agent: Mapping[str, int] = field(default_factory=dict)
    sla_open_clocks: int = 0
    sla_warnings: int = 0
    sla_breaches_by_metric: Tally[str] = field(default_factory=Tally)
    promise_breaches: int = 0
    deliveries: Tally[str] = field(default_factory=Tally)
    """Finished deliveries by outcome (succeeded, dead_lettered), from notify."""
    failed_attempts: int = 0
    queue_depth: int = 0
    receiver: Mapping[str, int] = field(default_factory=dict)
    nps: Score = field(default_factory=Score)
    csat: Score = field(default_factory=Score)
    customers: Mapping[str, int] = field(default_factory=dict)
    unreachable: list[str] = field(default_factory=list)
    links: Mapping[str, str] = field(default_factory=dict)


def _score(s: Score, unit: str) -> str:
    if s.score is None:
        return f"—  ({s.answers} answers)"
    value = f"{s.score:+.0f}" if unit == "" else f"{s.score:.0f}{unit}"
    rate = f", {s.response_rate:.0f}% responded" if s.response_rate is not None else ""
    return f"{value}  ({s.answers} answers{rate})"


def _tally(t: Mapping[str, int], order: Iterable[str] | None = None) -> str:
    keys = list(order) if order is not None else sorted(t)
    return "  ".join(f"{k} {t.get(k, 0)}" for k in keys) or "—"


def render(s: Snapshot) -> str:
    channels = ("email", "chat", "web_form", "phone", "social")
    breaches = sum(s.sla_breaches_by_metric.values())
    lines = [
        f"── CareLoop live demo ─ shop time {s.domain_now:%a %d %b %H:%M} UTC ─ speed x{s.speed:g} ──",
        f"orders      {s.orders_created} created, {s.order_events} journey events published",
        f"contacts    {s.contacts_sent} sent by customers"
        + (f" · {s.lost} steps/contacts could not be delivered" if s.lost else ""),
        f"tickets     {sum(s.tickets_by_channel.values())} created: {_tally(s.tickets_by_channel, channels)}",
        f"            {s.open_tickets} open · agents: {s.agent.get('replies', 0)} replies, "
        f"{s.agent.get('pending', 0)} set pending, {s.agent.get('solved', 0)} solved"
        + (f", {s.agent['refused']} refused by intake" if s.agent.get("refused") else ""),
        f"SLA         {s.sla_open_clocks} clocks running · {s.sla_warnings} warnings · "
        f"{breaches} breached ({_tally(s.sla_breaches_by_metric)}) · "
        f"{s.promise_breaches} order promises broken",
        f"webhooks    {s.deliveries.get('succeeded', 0)} delivered, {s.deliveries.get('dead_lettered', 0)} "
        f"dead-lettered, {s.failed_attempts} failed attempts retried, {s.queue_depth} queued",
        f"            receiver: {s.receiver.get('verified', 0)} signatures verified (standardwebhooks), "
        f"{s.receiver.get('bad_signature', 0)} failed, "
        f"{s.receiver.get('answered_500', 0)} answered 500 on purpose",
        f"surveys     NPS {_score(s.nps, '')} · CSAT {_score(s.csat, '%')}",
        f"            customers: {s.customers.get('invited', 0)} invited, "
        f"{sum(v for k, v in s.customers.items() if k.startswith('answered:'))} answered, "
        f"{s.customers.get('unhappy', 0)} unhappy (→ follow-up tickets)",
    ]
    if s.unreachable:
        lines.append(f"unreachable {', '.join(s.unreachable)}")
    lines.append("look at")
    lines += [f"  {name:<10} {where}" for name, where in s.links.items()]
    return "\n".join(lines) + "\n"


async def service_samples(client: httpx.AsyncClient, base_url: str, service: str) -> Samples | None:
    try:
        response = await client.get(f"{base_url}/metrics")
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    # Only the service's own families: in one process (tests) every /metrics shows every collector.
    return parse_metrics(response.text, f"careloop_{service}_")


async def survey_score(client: httpx.AsyncClient, base_url: str, kind: str, api_key: str) -> Score:
    try:
        response = await client.get(
            f"{base_url}/v1/reports/{kind}", headers={"Authorization": f"Bearer {api_key}"}
        )
        response.raise_for_status()
    except httpx.HTTPError:
        return Score()
    overall: dict[str, Any] = response.json()["overall"]
    return Score(overall["score"], int(overall["answers"]), overall["response_rate"])


async def gather(
    clients: Mapping[str, httpx.AsyncClient],
    urls: Mapping[str, str],
    api_key: str,
    snapshot: Snapshot,
) -> Snapshot:
    """Fill `snapshot` from the services (`clients`/`urls` keyed by service name)."""
    names = ("intake", "sla", "notify", "survey")
    found = await asyncio.gather(*(service_samples(clients[n], urls[n], n) for n in names))
    samples = dict(zip(names, found, strict=True))
    snapshot.unreachable = [n for n, v in samples.items() if v is None]
    intake, sla, notify = samples["intake"] or [], samples["sla"] or [], samples["notify"] or []
    snapshot.tickets_by_channel = by_label(intake, "careloop_intake_tickets_created_total", "channel")
    snapshot.open_tickets = int(total(intake, "careloop_intake_open_tickets"))
    snapshot.sla_open_clocks = int(total(sla, "careloop_sla_open_clocks"))
    snapshot.sla_warnings = int(total(sla, "careloop_sla_warnings_total"))
    snapshot.sla_breaches_by_metric = by_label(sla, "careloop_sla_breaches_total", "metric")
    snapshot.promise_breaches = int(total(sla, "careloop_sla_promise_breaches_total"))
    snapshot.deliveries = by_label(notify, "careloop_notify_deliveries_total", "outcome")
    attempts = by_label(notify, "careloop_notify_attempts_total", "outcome")
    snapshot.failed_attempts = sum(v for k, v in attempts.items() if k != "success")
    snapshot.queue_depth = int(total(notify, "careloop_notify_queue_depth"))
    snapshot.nps, snapshot.csat = await asyncio.gather(
        survey_score(clients["survey"], urls["survey"], "nps", api_key),
        survey_score(clients["survey"], urls["survey"], "csat", api_key),
    )
    return snapshot
