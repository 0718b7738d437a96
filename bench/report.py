"""The benchmark report: every figure with min/median/max over its runs, its ceiling measured in the
same run, the ratio and the target, written as bench/results/latest.json and latest.md."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.figures import E2E_LOADS, FIGURE_NAMES, SLA_CLOCKS, SPECS, FigureSpec

__all__ = ["E2E_LOADS", "FIGURE_NAMES", "SLA_CLOCKS", "SPECS", "FigureSpec", "LoadCpu", "Report"]


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

    def mark_unset(self, names: list[str], reason: str) -> None:
        """Figures neither measured nor marked missing are missing for `reason`, never blank."""
        for name in names:
            figure = self.figures[name]
            if figure.value is None and figure.missing is None:
                figure.missing = reason

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
            *services_line(g),
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
            lines.append(f"- {spec.ceiling or 'none (nothing barer does the same work)'}: {names}")
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


def services_line(g: dict[str, Any]) -> list[str]:
    """Where the services ran from, if not the harness's own checkout (CARELOOP_BENCH_CHECKOUT)."""
    services = g.get("services")
    if not services:
        return []
    return [
        f"- **Services from another checkout**: `{services.get('checkout')}` at `{services.get('commit')}` "
        f"({services.get('subject')}); the harness is the commit above"
    ]


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


README_START = "<!-- bench table: python -m bench.report bench/results/latest.json --readme README.md -->"
README_END = "<!-- end of the bench table -->"


def with_readme_section(readme: str, section: str) -> str:
    """`readme` with what lies between its bench-table markers replaced by `section`."""
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no {README_START!r} ... {README_END!r} region")
    # a blank line ends the table before the marker, whatever a Markdown renderer makes of comments
    return readme[: start + len(README_START)] + "\n" + section + "\n" + readme[end:]


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Print the README's bench section from a report, or write it into the README."
    )
    default = Path(__file__).parent / "results" / "latest.json"
    parser.add_argument("source", type=Path, nargs="?", default=default, help="a latest.json")
    parser.add_argument("--readme", type=Path, help="rewrite this file's bench-table region in place")
    args = parser.parse_args()
    section = readme_section(json.loads(args.source.read_text()))
    if args.readme is None:
        print(section, end="")
        return
    args.readme.write_text(with_readme_section(args.readme.read_text(), section))


if __name__ == "__main__":
    main()
