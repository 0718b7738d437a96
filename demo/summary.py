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


OUTCOMES = "careloop_intake_automatic_answer_outcomes_total"


def automatic_answers(intake: Samples) -> dict[str, int]:
    """Intake's automatic-answer counters, summed over shops and categories."""
    return {
        "sent": int(total(intake, "careloop_intake_automatic_answers_total")),
        "deflected": int(total(intake, OUTCOMES, outcome="deflected")),
        "came_back": int(total(intake, OUTCOMES, outcome="came_back")),
        "after_notice": int(total(intake, "careloop_intake_contacts_after_notice_total")),
    }


@dataclass
class Score:
    score: float | None = None
    answers: int = 0
    response_rate: float | None = None


@dataclass
class Snapshot:
    domain_now: datetime
    speed: float
    kept_data: bool = False
    """The demo shop's data of earlier runs was kept (DEMO_KEEP_DATA=1), not deleted at start."""
    orders_created: int = 0
    order_events: int = 0
    contacts_sent: int = 0
    lost: int = 0
    """Order steps and contacts the demo could not deliver (Kafka or intake away)."""
    tickets_by_channel: Tally[str] = field(default_factory=Tally)
    """Created since intake started, i.e. in this run (intake's counter)."""
    unsolved: Mapping[str, int] = field(default_factory=dict)
    """Open and pending tickets of the shop at the agents' latest look: `demo` (the demo's customers',
    all of this run) and `others` (somebody else's, or an earlier run's: the agents leave them)."""
    agent: Mapping[str, int] = field(default_factory=dict)
    answers: Mapping[str, int] = field(default_factory=dict)
    """Intake's automatic answers to "where is my order?": sent, deflected, came_back, after_notice."""
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


def _data_line(s: Snapshot) -> str:
    if s.kept_data:
        return "data        earlier runs' kept (DEMO_KEEP_DATA=1): open tickets, clocks, reports include them"
    return "data        this run's only: earlier runs' deleted at start (DEMO_KEEP_DATA=1 keeps them)"


def _ticket_lines(s: Snapshot) -> list[str]:
    """This run's tickets, and apart from them the open ones the demo leaves alone: a count of the
    database (open) never stands beside a count of this run (created) as if it were part of it."""
    channels = ("email", "chat", "web_form", "phone", "social")
    created = sum(s.tickets_by_channel.values())
    agent = s.agent
    lines = [
        f"tickets     {created} created this run: {_tally(s.tickets_by_channel, channels)}",
        f"            the demo's: {s.unsolved.get('demo', 0)} open or pending · agents: "
        f"{agent.get('replies', 0)} replies, {agent.get('pending', 0)} set pending, "
        f"{agent.get('solved', 0)} solved"
        + (f", {agent['refused']} refused by intake" if agent.get("refused") else ""),
    ]
    if s.unsolved.get("others"):
        whose = "yours or earlier runs'" if s.kept_data else "created by hand"
        lines.append(
            f"            not the demo's ({whose}): {s.unsolved['others']} open or pending, left alone"
        )
    return lines


def _answers_line(s: Snapshot) -> str:
    a = s.answers
    return (
        f"answers     {a.get('sent', 0)} automatic answers to 'where is my order?' · "
        f"{a.get('deflected', 0)} deflected · {a.get('came_back', 0)} came back to an agent · "
        f"{a.get('after_notice', 0)} asked after a delay notice"
    )


def _survey_lines(s: Snapshot) -> list[str]:
    answered = {k.split(":", 1)[1]: v for k, v in s.customers.items() if k.startswith("answered:")}
    by_kind = ", ".join(f"{kind.upper()} {answered.get(kind, 0)}" for kind in ("nps", "csat", "ces"))
    reports = " (reports include earlier runs)" if s.kept_data else ""
    lines = [
        f"surveys     NPS {_score(s.nps, '')} · CSAT {_score(s.csat, '%')}{reports}",
        f"            customers: {s.customers.get('invited', 0)} invited, {sum(answered.values())} answered "
        f"({by_kind}), {s.customers.get('unhappy', 0)} unhappy (→ follow-up tickets)",
    ]
    if s.customers.get("not_ours"):
        lines.append(
            f"            {s.customers['not_ours']} invitations for somebody else's tickets, left alone"
        )
    return lines


def render(s: Snapshot) -> str:
    breaches = sum(s.sla_breaches_by_metric.values())
    lines = [
        f"── CareLoop live demo ─ shop time {s.domain_now:%a %d %b %H:%M} UTC ─ speed x{s.speed:g} ──",
        _data_line(s),
        f"orders      {s.orders_created} created, {s.order_events} journey events published",
        f"contacts    {s.contacts_sent} sent by customers"
        + (f" · {s.lost} steps/contacts could not be delivered" if s.lost else ""),
        *_ticket_lines(s),
        _answers_line(s),
        f"SLA         {s.sla_open_clocks} clocks running · {s.sla_warnings} warnings · "
        f"{breaches} breached ({_tally(s.sla_breaches_by_metric)}) · "
        f"{s.promise_breaches} order promises broken",
        f"webhooks    {s.deliveries.get('succeeded', 0)} delivered, {s.deliveries.get('dead_lettered', 0)} "
        f"dead-lettered, {s.failed_attempts} failed attempts retried, {s.queue_depth} queued",
        f"            receiver: {s.receiver.get('verified', 0)} signatures verified (standardwebhooks), "
        f"{s.receiver.get('bad_signature', 0)} failed, "
        f"{s.receiver.get('answered_500', 0)} answered 500 on purpose",
        *_survey_lines(s),
    ]
    if s.unreachable:
        lines.append(f"unreachable {', '.join(s.unreachable)}")
    lines.append("look at")
    lines += [f"  {name:<10} {where}" for name, where in s.links.items()]
    return "\n".join(lines) + "\n"


NO_GRAFANA = "Grafana is not part of make run: docs/demo.md says how (deploy/compose/compose.yml)"


def _metrics_link(urls: list[str]) -> str:
    """The first service's /metrics in full, the others by their port: one short line."""
    ports = ", ".join(":" + u.rsplit(":", 1)[-1] for u in urls[1:])
    return f"{urls[0]}/metrics" + (f"  (also on {ports})" if ports else "")


def where_to_look(
    urls: Mapping[str, str],
    endpoint_id: str | None,
    receiver: str,
    *,
    prometheus: str,
    prometheus_answers: bool,
    grafana: str | None,
    sign_in: tuple[str, str] | None = None,
) -> dict[str, str]:
    """Where to look next: the addresses that answer, or what to do instead. `prometheus` is the demo's
    Prometheus URL or why there is none; `grafana` a Grafana that answered, if any; `sign_in` the
    demo agent (name, token) to sign in to the workspace as."""
    if prometheus.startswith("http") and not prometheus_answers:
        prometheus = f"{prometheus} does not answer (its log, prometheus.log, says why)"
    return {
        "workspace": f"{urls['intake']}/workspace/  (sign in with an agent's token: docs/workspace.md)",
        **({"sign in": f"{sign_in[1]}  (as {sign_in[0]})"} if sign_in else {}),
        "tickets": f"{urls['intake']}/v1/tickets  (Authorization: Bearer <demo key>)",
        "reports": f"{urls['survey']}/v1/reports/nps  ·  /v1/reports/csat",
        "webhooks": f"{urls['notify']}/v1/endpoints/{endpoint_id}/deliveries",
        "metrics": _metrics_link(list(urls.values())),
        "receiver": f"{receiver}/stats",
        "prometheus": prometheus,
        "dashboards": f"{grafana}  (Grafana)" if grafana else NO_GRAFANA,
    }


HOME, CLEAR_LINE, CLEAR_BELOW, CLEAR_SCREEN = "\033[H", "\033[K", "\033[J", "\033[2J"


def frame(text: str, *, in_place: bool, first: bool) -> str:
    """What to write for one summary. In place (a terminal): over the previous one, from the top left,
    each line clearing what is left of the previous summary's line and the last clearing everything
    below, so nothing scrolls (a full clear would push each summary into the scrollback); the first
    clears the screen once. Else (a pipe, a file): appended, after a blank line. Either way it ends
    with a newline: `make run` passes the demo's output on line by line."""
    if not in_place:
        return "\n" + text
    body = "\n".join(f"{line}{CLEAR_LINE}" for line in text.splitlines())
    return (CLEAR_SCREEN if first else "") + HOME + body + CLEAR_BELOW + "\n"


async def service_samples(client: httpx.AsyncClient, base_url: str, service: str) -> Samples | None:
    try:
        response = await client.get(f"{base_url}/metrics")
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    # Only the service's own families: in one process (tests) every /metrics shows every collector.
    return parse_metrics(response.text, f"careloop_{service}_")


async def answers(client: httpx.AsyncClient, url: str) -> bool:
    """Whether `url` answers at all (a link the summary may show)."""
    try:
        await client.get(url, timeout=2.0)
    except httpx.HTTPError:
        return False
    return True


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
    snapshot.answers = automatic_answers(intake)
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
