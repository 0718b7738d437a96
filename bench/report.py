"""The benchmark report: every figure with min/median/max over its runs, its ceiling measured in the
same run, the ratio and the target, written as bench/results/latest.json and latest.md."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.common import SERVICES

E2E_LOADS = (100, 1000, 5000)
SLA_CLOCKS = (100_000, 1_000_000)


CONSTANT_ROUTE = "same route returning a constant (make_api, same auth and body model), same wrk load"
HELLO = "bare hello-world ASGI app on the same uvicorn/uvloop/httptools stack, same wrk load"


@dataclass(frozen=True)
class LoadCpu:
    """CPU of what sends or receives a figure's load (wrk, or the webhook receiver), as the median
    share of one core over the figure's runs and over its ceiling's: near 1.0 per wrk thread, or for
    the receiver, would mean the figure measured the tool, not CareLoop."""

    tool: str
    value: float | None
    ceiling: float | None

    def cell(self) -> str:
        return f"{self.tool} {_num(self.value)} / {_num(self.ceiling)}"


@dataclass(frozen=True)
class FigureSpec:
    name: str
    title: str
    unit: str
    better: str  # "higher" or "lower"
    ceiling: str
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
    specs += [
        FigureSpec(
            f"memory.{s}_mib",
            f"Peak RSS, {s}",
            "MiB",
            "lower",
            "the service's code imported and its app built, idle",
        )
        for s in SERVICES
    ]
    return specs


SPECS: list[FigureSpec] = _specs()
FIGURE_NAMES: tuple[str, ...] = tuple(s.name for s in SPECS)


@dataclass
class Figure:
    spec: FigureSpec
    value: dict[str, Any] | None = None
    """summarize() of the runs; None when the figure could not be measured."""
    ceiling: dict[str, Any] | None = None
    missing: str | None = None
    note: str | None = None
    target_met: bool | None = None
    load_cpu: LoadCpu | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        value = (self.value or {}).get("median")
        ceiling = (self.ceiling or {}).get("median")
        if value is None or not ceiling:
            return None
        return round(float(value) / float(ceiling), 3)


class Report:
    def __init__(self) -> None:
        self.figures: dict[str, Figure] = {s.name: Figure(s) for s in SPECS}
        self.facts: dict[str, Any] = {}
        self.scenarios: dict[str, Any] = {}

    def set(
        self,
        name: str,
        value: dict[str, Any] | None,
        ceiling: dict[str, Any] | None,
        *,
        note: str | None = None,
        target_met: bool | None = None,
        missing: str | None = None,
        load_cpu: LoadCpu | None = None,
    ) -> None:
        figure = self.figures[name]
        figure.value, figure.ceiling, figure.note, figure.target_met = value, ceiling, note, target_met
        figure.load_cpu = load_cpu
        if missing is None and (value is None or value.get("median") is None):
            missing = "no run produced a value"
        figure.missing = missing

    def mark_missing(self, names: list[str], reason: str) -> None:
        for name in names:
            if self.figures[name].value is None:
                self.figures[name].missing = reason

    def to_json(self) -> dict[str, Any]:
        figures = []
        for figure in self.figures.values():
            figures.append(
                {
                    **asdict(figure.spec),
                    "value": figure.value,
                    "ceiling_value": figure.ceiling,
                    "ratio": figure.ratio,
                    "target_met": figure.target_met,
                    "missing": figure.missing,
                    "note": figure.note,
                    "load_cpu": asdict(figure.load_cpu) if figure.load_cpu else None,
                }
            )
        return {**self.facts, "figures": figures, "scenarios": self.scenarios}

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        json_path, md_path = directory / "latest.json", directory / "latest.md"
        json_path.write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n")
        md_path.write_text(self.markdown())
        return json_path, md_path

    def markdown(self) -> str:
        facts = self.facts
        m, v, g = facts.get("machine", {}), facts.get("versions", {}), facts.get("git", {})
        packages = ", ".join(f"{k} {val}" for k, val in (v.get("packages") or {}).items())
        lines = [
            "# CareLoop benchmark report",
            "",
            f"Generated {facts.get('generated_at')} in {facts.get('duration_seconds')} s "
            f"by `python -m bench.run {' '.join(facts.get('argv', []))}`"
            + (" (**quick smoke run: sizes too small to quote**)" if facts.get("quick") else "")
            + ".",
            "",
            f"- Machine: {m.get('cpu_model')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB RAM, "
            f"kernel {m.get('kernel')}; load average at start {m.get('load_average_at_start')}",
            f"- Versions: Python {v.get('python')}, Kafka {v.get('kafka')}, PostgreSQL {v.get('postgres')}; "
            f"{packages}",
            f"- Commit: `{g.get('commit')}` ({g.get('subject')}); "
            f"{g.get('dirty_paths')} uncommitted paths in the checkout",
            "- Kafka, Postgres, the services and the load generators all share this machine's cores.",
            "",
            "Each figure: min / median / max over n runs; its ceiling (the same work done the barest way, "
            "measured in this run) as a median; ratio = figure median / ceiling median "
            "(for rates, the share of the ceiling reached; for latencies and memory, how many times the "
            "ceiling's). Load CPU: the median CPU of the HTTP load generator (wrk, per run) or of the "
            "webhook receiver, as a share of one core, for the figure / for its ceiling; a wrk thread "
            "or the receiver near 1.0 would be the limit instead of what is measured.",
            "",
            "| figure | name | unit | n | min | median | max | ceiling (median) | ratio | target | met "
            "| load CPU (cores) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for figure in self.figures.values():
            spec = figure.spec
            if figure.missing:
                lines.append(
                    f"| {spec.title} | `{spec.name}` | {spec.unit} | 0 | - | **missing** | - | "
                    f"{_num((figure.ceiling or {}).get('median'))} | - | {spec.target or ''} | - | "
                    f"{figure.load_cpu.cell() if figure.load_cpu else ''} |"
                )
                continue
            value = figure.value or {}
            met = "" if figure.target_met is None else ("yes" if figure.target_met else "**no**")
            cells = [
                spec.title,
                f"`{spec.name}`",
                spec.unit,
                str(value.get("n")),
                _num(value.get("min")),
                _num(value.get("median")),
                _num(value.get("max")),
                _num((figure.ceiling or {}).get("median")),
                _num(figure.ratio),
                spec.target or "",
                met,
                figure.load_cpu.cell() if figure.load_cpu else "",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "## Ceilings", ""]
        for spec in {s.ceiling: s for s in SPECS}.values():
            names = ", ".join(f"`{s.name}`" for s in SPECS if s.ceiling == spec.ceiling)
            lines.append(f"- {spec.ceiling}: {names}")
        notes = [(f.spec.name, f.note) for f in self.figures.values() if f.note]
        missing = [(f.spec.name, f.missing) for f in self.figures.values() if f.missing]
        if missing:
            lines += ["", "## Missing figures", ""]
            lines += [f"- `{name}`: {reason}" for name, reason in missing]
        if notes:
            lines += ["", "## Notes", ""]
            lines += [f"- `{name}`: {note}" for name, note in notes]
        lines += ["", "Raw runs of every scenario are in latest.json under `scenarios`.", ""]
        return "\n".join(lines)


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value >= 100:
        return f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.3g}" if isinstance(value, float) else str(value)


def readme_section(document: dict[str, Any]) -> str:
    """The README's "## Benchmarks" section from a latest.json: the machine and a table of medians."""
    m, g = document.get("machine", {}), document.get("git", {})
    lines = [
        "## Benchmarks",
        "",
        "`make bench` runs every scenario on the real stack and writes `bench/results/latest.md` and "
        "`.json`; how each figure and its ceiling are measured: [docs/benchmarks.md](docs/benchmarks.md). "
        f"Latest run: {document.get('generated_at')}, commit `{str(g.get('commit'))[:10]}`, on "
        f"{m.get('cpu_model')} ({m.get('cores')} cores, {m.get('memory_gib')} GiB RAM, kernel "
        f"{m.get('kernel')}), Kafka, PostgreSQL, services and load generators on the same machine; "
        "HTTP load from wrk, webhooks into a compiled receiver, their CPU in the last column.",
        "",
        "| figure | median (min-max, n) | ceiling | ratio | target | load CPU (cores) |",
        "|---|---|---|---|---|---|",
    ]
    for figure in document["figures"]:
        ceiling = (figure.get("ceiling_value") or {}).get("median")
        target = figure.get("target") or ""
        if figure.get("target_met") is not None:
            target += " - met" if figure["target_met"] else " - **not met**"
        if figure.get("missing"):
            value = "**missing**"
        else:
            v = figure["value"]
            value = f"{_num(v['median'])} ({_num(v['min'])}-{_num(v['max'])}, n={v['n']})"
        cpu = figure.get("load_cpu")
        cpu_cell = f"{cpu['tool']} {_num(cpu['value'])} / {_num(cpu['ceiling'])}" if cpu else ""
        lines.append(
            f"| {figure['title']} ({figure['unit']}) | {value} | {_num(ceiling)} | "
            f"{_num(figure.get('ratio'))} | {target} | {cpu_cell} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    source = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "results" / "latest.json"
    print(readme_section(json.loads(source.read_text())), end="")
