"""The soak's verdict, pure: what was produced and what was observed from the outside in, one
PASS/FAIL check per promise out (nothing lost, nothing doubled, everything drained, metrics agree).

Timer-driven work (SLA stages, promise breaches, survey sweeps) goes on after the traffic stops, so
observations are taken in an order that makes each comparison fair: rows first, then the topics
(every row's event has been relayed by then), then the rows again (every event read has its row).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

SAMPLE = 5
"""Ids quoted per finding: enough to look one up, not a dump."""


@dataclass(frozen=True)
class IdComparison:
    expected: int
    received: int
    lost: list[str]
    extra: list[str]
    duplicates: int
    """Ids acknowledged more than once (at-least-once delivery: allowed, counted)."""
    repeat_deliveries: int
    """Acknowledgements beyond each id's first."""


def compare_ids(must: set[str], allowed: set[str], acknowledged: Mapping[str, int]) -> IdComparison:
    """`must`: every id that has to have arrived; `allowed`: every id that may have (a superset, read
    later); `acknowledged`: id -> how often it was acknowledged."""
    received = {i for i, n in acknowledged.items() if n > 0}
    return IdComparison(
        expected=len(must),
        received=len(received),
        lost=sorted(must - received),
        extra=sorted(received - allowed - must),
        duplicates=sum(1 for n in acknowledged.values() if n > 1),
        repeat_deliveries=sum(n - 1 for n in acknowledged.values() if n > 1),
    )


@dataclass(frozen=True)
class OneEach:
    """Exactly one event (distinct event id) per key: a row's event missing, two ids for one row, or
    an event whose row does not exist."""

    keys: int
    missing: list[str]
    doubled: dict[str, int]
    orphans: list[str]

    @property
    def passed(self) -> bool:
        return not (self.missing or self.doubled or self.orphans)


def one_each(keys: Iterable[str], events: Iterable[tuple[str, str]], known_later: set[str]) -> OneEach:
    """`keys` read before the events, `events` as (key, event id), `known_later` the keys read after."""
    wanted = set(keys)
    ids: dict[str, set[str]] = {}
    for key, event_id in events:
        ids.setdefault(key, set()).add(event_id)
    return OneEach(
        keys=len(wanted),
        missing=sorted(wanted - set(ids)),
        doubled={k: len(v) for k, v in sorted(ids.items()) if len(v) > 1},
        orphans=sorted(set(ids) - known_later - wanted),
    )


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    figures: str
    """One line: the counts behind the verdict, and a few ids when something is wrong."""


def _ids(ids: Iterable[str]) -> str:
    listed = list(ids)
    more = f" (+{len(listed) - SAMPLE} more)" if len(listed) > SAMPLE else ""
    return ", ".join(listed[:SAMPLE]) + more


def one_each_check(name: str, what: str, result: OneEach) -> Check:
    figures = f"{result.keys} {what}"
    if result.missing:
        figures += f"; {len(result.missing)} without their event: {_ids(result.missing)}"
    if result.doubled:
        figures += f"; {len(result.doubled)} with two or more event ids: {_ids(result.doubled)}"
    if result.orphans:
        figures += f"; {len(result.orphans)} events without a row: {_ids(result.orphans)}"
    return Check(name, result.passed, figures)


@dataclass(frozen=True)
class Observations:
    """Everything the checks need, as plain data (see bench/soak.py for how each is gathered)."""

    webhooks_must: Mapping[str, str]
    """webhook-id -> event type: the soak's order events and the webhook-worthy events read back."""
    webhooks_allowed: set[str]
    acknowledged: Mapping[str, int]
    contacts_accepted: set[tuple[str, str]]
    contacts_filed: Mapping[tuple[str, str], int]
    ticket_created: OneEach
    sla_breached: OneEach
    promise_breached: OneEach
    survey_invited: OneEach
    survey_answered: OneEach
    answers_given: Mapping[str, str]
    answer_rows: Mapping[str, str]
    report_answers: Mapping[str, int]
    outbox: Mapping[str, int]
    group_lag: Mapping[str, int]
    gauge_lag: Mapping[str, float]
    dead_letter_topics: Mapping[str, int]
    dead_letter_rows: Mapping[str, int]
    deliveries: Mapping[str, int]
    disabled_endpoints: int
    success_attempts: int
    """Attempts notify recorded as answered 2xx; never more than the endpoint acknowledged."""
    deliveries_succeeding_twice: int
    metric_pairs: list[dict[str, Any]]
    drained: bool
    drain_note: str
    gave_up: Mapping[str, int]
    undecodable: int = 0


def webhook_figures(obs: Observations) -> dict[str, Any]:
    result = compare_ids(set(obs.webhooks_must), obs.webhooks_allowed, obs.acknowledged)
    lost_by_type = Counter(obs.webhooks_must[i] for i in result.lost)
    return {
        "expected": result.expected,
        "received": result.received,
        "lost": len(result.lost),
        "extra": len(result.extra),
        "duplicates": result.duplicates,
        "repeat_deliveries": result.repeat_deliveries,
        "lost_by_type": dict(sorted(lost_by_type.items())),
        "expected_by_type": dict(sorted(Counter(obs.webhooks_must.values()).items())),
        "lost_sample": result.lost[:SAMPLE],
        "extra_sample": result.extra[:SAMPLE],
    }


def evaluate(obs: Observations) -> list[Check]:
    hooks = webhook_figures(obs)
    checks = [
        Check(
            "drained: outboxes empty, no lag, no delivery pending, at one instant",
            obs.drained,
            obs.drain_note,
        ),
        Check(
            "every expected webhook received (by webhook-id), none unexpected",
            hooks["lost"] == 0 and hooks["extra"] == 0,
            f"{hooks['expected']} expected, {hooks['received']} received, {hooks['lost']} lost"
            + (f" {hooks['lost_by_type']}: {_ids(hooks['lost_sample'])}" if hooks["lost"] else "")
            + f", {hooks['extra']} unexpected"
            + (f": {_ids(hooks['extra_sample'])}" if hooks["extra"] else "")
            + f"; {hooks['duplicates']} delivered more than once (allowed)",
        ),
    ]
    missing = sorted(f"{c}:{m}" for c, m in obs.contacts_accepted if obs.contacts_filed.get((c, m), 0) == 0)
    doubled = sorted(f"{c}:{m}" for (c, m), n in obs.contacts_filed.items() if n > 1)
    checks.append(
        Check(
            "every contact filed exactly once (by channel message id)",
            not missing and not doubled,
            f"{len(obs.contacts_accepted)} contacts accepted, {len(missing)} not filed"
            + (f": {_ids(missing)}" if missing else "")
            + f", {len(doubled)} filed twice"
            + (f": {_ids(doubled)}" if doubled else ""),
        )
    )
    checks += [
        one_each_check("every ticket exactly one ticket.created", "tickets", obs.ticket_created),
        one_each_check(
            "every breached SLA clock exactly one sla.breached", "breached clocks", obs.sla_breached
        ),
        one_each_check(
            "every broken order promise exactly one order.promise_breached",
            "broken promises",
            obs.promise_breached,
        ),
        one_each_check("every survey sent exactly one survey.invited", "surveys sent", obs.survey_invited),
        one_each_check(
            "every survey answer exactly one survey.answered", "answers stored", obs.survey_answered
        ),
        _answers_check(obs),
        Check(
            "outboxes empty (no row waiting longer than a relay round)",
            not any(obs.outbox.values()),
            ", ".join(f"{s} {n}" for s, n in sorted(obs.outbox.items())),
        ),
        Check(
            "no consumer lag (group offsets against end offsets, and the services' own gauges)",
            not any(obs.group_lag.values()) and not any(obs.gauge_lag.values()),
            f"{len(obs.group_lag)} groups, {sum(obs.group_lag.values())} records behind; gauges: "
            + ", ".join(f"{s} {v:g}" for s, v in sorted(obs.gauge_lag.items())),
        ),
        Check(
            "no dead letters (topics and tables), no webhook dead-lettered, no endpoint disabled",
            not any(obs.dead_letter_topics.values())
            and not any(obs.dead_letter_rows.values())
            and not obs.deliveries.get("dead")
            and not obs.disabled_endpoints,
            f"DLQ records {sum(obs.dead_letter_topics.values())}, dead_letters rows "
            f"{sum(obs.dead_letter_rows.values())}, deliveries {dict(sorted(obs.deliveries.items()))}, "
            f"disabled endpoints {obs.disabled_endpoints}, undecodable events {obs.undecodable}",
        ),
        _attempts_check(obs),
        Check(
            "the traffic got everything accepted (nothing given up on)",
            not any(obs.gave_up.values()),
            ", ".join(f"{k} {n}" for k, n in sorted(obs.gave_up.items())) or "nothing given up",
        ),
    ]
    for pair in obs.metric_pairs:
        figures = f"metric {_counts(pair['metric'])}, rows {_counts(pair['rows'])}"
        if pair["differences"]:
            figures += f"; differ at {', '.join(sorted(pair['differences']))}"
        checks.append(Check(f"metrics = tables: {pair['check']}", bool(pair["agreed"]), figures))
    return checks


def _counts(values: Mapping[str, float]) -> str:
    shown = {k: v for k, v in sorted(values.items()) if v}
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in shown.items()) + "}" if shown else "0"


def _attempts_check(obs: Observations) -> Check:
    """An attempt notify records as successful must have been answered by the endpoint; the endpoint
    may have answered more (an answer whose recording failed is attempted again)."""
    acknowledged = sum(obs.acknowledged.values())
    return Check(
        "every attempt notify recorded as successful was acknowledged by the endpoint",
        obs.success_attempts <= acknowledged,
        f"{obs.success_attempts} successful attempts recorded, {acknowledged} requests acknowledged; "
        f"{obs.deliveries_succeeding_twice} deliveries recorded as successful more than once",
    )


def _answers_check(obs: Observations) -> Check:
    lost = sorted(set(obs.answers_given) - set(obs.answer_rows))
    unknown = sorted(set(obs.answer_rows) - set(obs.answers_given))
    wrong_kind = sorted(s for s, k in obs.answers_given.items() if obs.answer_rows.get(s, k) != k)
    rows_by_kind = Counter(obs.answer_rows.values())
    kinds = sorted(set(rows_by_kind) | set(obs.report_answers))
    report_off = [k for k in kinds if obs.report_answers.get(k, 0) != rows_by_kind.get(k, 0)]
    figures = (
        f"{len(obs.answers_given)} answers given, {len(obs.answer_rows)} stored, {len(lost)} lost"
        + (f": {_ids(lost)}" if lost else "")
        + f", {len(unknown)} stored but never accepted"
        + (f": {_ids(unknown)}" if unknown else "")
        + "; reports count "
        + ", ".join(f"{k} {obs.report_answers.get(k, 0)}/{rows_by_kind.get(k, 0)} rows" for k in kinds)
    )
    passed = not (lost or unknown or wrong_kind or report_off)
    return Check("every survey answer counted once (stored, and in the reports)", passed, figures)


@dataclass
class SoakReport:
    meta: dict[str, Any]
    faults: dict[str, int]
    fault_log: list[dict[str, Any]]
    produced: dict[str, Any]
    webhooks: dict[str, Any]
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": "PASS" if self.passed else "FAIL",
            "meta": self.meta,
            "faults": self.faults,
            "fault_log": self.fault_log,
            "produced": self.produced,
            "webhooks": self.webhooks,
            "checks": [{"check": c.name, "passed": c.passed, "figures": c.figures} for c in self.checks],
        }


def render(report: SoakReport) -> str:
    m = report.meta
    lines = [
        f"# Soak with chaos: {'PASS' if report.passed else 'FAIL'}",
        "",
        f"Run {m.get('started', '?')}, commit `{m.get('commit', '?')}`: {m.get('minutes', '?')} min of "
        f"traffic at {m.get('speed', '?')}x shop time ({m.get('orders_per_minute', '?')} orders a minute), "
        f"a fault every {m.get('chaos_interval', '?')} s (seed {m.get('seed', '?')}), then "
        f"{m.get('drain_seconds', '?')} s to drain. Machine: {m.get('machine', '?')}. Written by "
        "`make soak` (bench/soak.py); how to read it: docs/reliability.md#soak-with-chaos-make-soak.",
        "",
        "## Faults injected",
        "",
        "| kind | count |",
        "|---|---|",
        *(f"| {kind} | {n} |" for kind, n in report.faults.items()),
        f"| **total** | {sum(report.faults.values())} |",
        "",
    ]
    if report.fault_log:
        lines += ["| at (s) | fault | target | took (s) |", "|---|---|---|---|"]
        lines += [
            f"| {f['at_s']} | {f['kind']} | {f['target']} | {f['seconds']}"
            + (f" ({f['error']})" if f.get("error") else "")
            + " |"
            for f in report.fault_log
        ]
        lines.append("")
    lines += ["## Traffic produced", "", "| what | count |", "|---|---|"]
    lines += [f"| {k} | {_cell(v)} |" for k, v in report.produced.items()]
    w = report.webhooks
    lines += [
        "",
        "## Webhooks",
        "",
        "| expected | received | lost | unexpected | duplicates (ids delivered twice or more) "
        "| repeat deliveries | answered 500 | hung | bad signatures |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {w.get('expected')} | {w.get('received')} | {w.get('lost')} | {w.get('extra')} | "
        f"{w.get('duplicates')} | {w.get('repeat_deliveries')} | {w.get('answered_500')} | "
        f"{w.get('hung')} | {w.get('bad_signature')} |",
        "",
        f"Expected by type: {_cell(w.get('expected_by_type', {}))}.",
        "",
        "## Checks",
        "",
        "| check | verdict | figures |",
        "|---|---|---|",
        *(f"| {c.name} | {'PASS' if c.passed else '**FAIL**'} | {c.figures} |" for c in report.checks),
        "",
    ]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
    return str(value)
