"""Draw the key dashboard panels from a real run as one PNG (Grafana itself is not packaged here).

    CARELOOP_OPS_SNAPSHOT=/tmp/snapshot.json .venv/bin/python -m pytest tests/ops/test_stack_scrape.py
    .venv/bin/python deploy/grafana/render_snapshot.py /tmp/snapshot.json docs/img/dashboards.png

The snapshot holds each panel's query_range answer from the stack test's Prometheus; this script
draws the chosen panels as SVG line charts on one HTML page and screenshots it with headless Chromium.
"""

from __future__ import annotations

import html
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

KEY_PANELS = (
    ("CareLoop / Care overview", "Contacts by channel"),
    ("CareLoop / Care overview", "First response time by channel (p50, p90)"),
    ("CareLoop / SLA", "Breaches by policy and metric (1h)"),
    ("CareLoop / SLA", "Open clocks by metric"),
    ("CareLoop / Webhooks", "Attempts by outcome"),
    ("CareLoop / Webhooks", "Delivery latency (event time to 2xx)"),
    ("CareLoop / Satisfaction", "NPS by shop"),
    ("CareLoop / Platform", "Events consumed by outcome"),
    ("CareLoop / Platform", "Consumer lag (records)"),
)
COLOURS = ("#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0", "#508642")
WIDTH, HEIGHT, PAD = 560, 230, 36
CHROMIUM = "/usr/bin/chromium"


def legend_of(metric: dict[str, str], expr: str) -> str:
    """The labels, and for a recording rule its operation (p50_1h, ratio5m) to tell queries apart."""
    shown = [v for k, v in metric.items() if k not in {"__name__", "instance", "job"}]
    if expr.startswith("careloop:"):
        shown.append(expr.split("{")[0].rsplit(":", 1)[-1])
    return " ".join(shown) or expr[:40]


def series_of(
    panels: list[dict[str, Any]], dashboard: str, title: str
) -> list[tuple[str, list[tuple[float, float]]]]:
    found = []
    for panel in panels:
        if panel["dashboard"] != dashboard or panel["panel"] != title:
            continue
        for result in panel["data"].get("data", {}).get("result", []):
            points = [(float(t), float(v)) for t, v in result["values"] if math.isfinite(float(v))]
            if points:
                found.append((legend_of(result["metric"], panel["expr"]), points))
    return found


def svg_chart(title: str, series: list[tuple[str, list[tuple[float, float]]]]) -> str:
    times = [t for _, points in series for t, _ in points] or [0.0, 1.0]
    values = [v for _, points in series for _, v in points] or [0.0, 1.0]
    t0, t1 = min(times), max(times) if max(times) > min(times) else min(times) + 1
    top = max(values) * 1.1 if max(values) > 0 else 1.0
    bottom = min(0.0, min(values))

    def x(t: float) -> float:
        return PAD + (t - t0) / (t1 - t0) * (WIDTH - 2 * PAD)

    def y(v: float) -> float:
        return HEIGHT - PAD - (v - bottom) / (top - bottom) * (HEIGHT - 2 * PAD)

    parts = [f'<svg width="{WIDTH}" height="{HEIGHT + 20 * ((len(series) + 2) // 3)}" class="panel">']
    parts.append(f'<text x="10" y="20" class="title">{html.escape(title)}</text>')
    for fraction in (0.0, 0.5, 1.0):
        value = bottom + fraction * (top - bottom)
        parts.append(
            f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{y(value):.1f}" y2="{y(value):.1f}" class="grid"/>'
        )
        parts.append(f'<text x="4" y="{y(value) + 4:.1f}" class="axis">{value:.3g}</text>')
    for i, (label, points) in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        lx, ly = 10 + (i % 3) * 180, HEIGHT + 4 + 20 * (i // 3)
        parts.append(f'<rect x="{lx}" y="{ly - 9}" width="12" height="4" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 16}" y="{ly - 4}" class="legend">{html.escape(label[:26])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def page(panels: list[dict[str, Any]]) -> str:
    charts = "".join(svg_chart(f"{d.split(' / ')[1]}: {t}", series_of(panels, d, t)) for d, t in KEY_PANELS)
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
body {{ background: #111217; margin: 12px; font-family: sans-serif; }}
h1 {{ color: #d8d9da; font-size: 18px; margin: 0 0 8px 4px; }}
.panel {{ background: #181b1f; border: 1px solid #2c3235; margin: 4px; }}
.title {{ fill: #d8d9da; font-size: 14px; font-weight: bold; }}
.axis, .legend {{ fill: #9fa7b3; font-size: 11px; }}
.grid {{ stroke: #2c3235; }}
</style></head><body><h1>CareLoop — key panels from a real run (stack test, Prometheus query_range)</h1>
<div style="display:flex;flex-wrap:wrap;width:1740px">{charts}</div></body></html>"""


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    snapshot, out = Path(argv[0]), Path(argv[1])
    panels = json.loads(snapshot.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        document = Path(tmp) / "panels.html"
        document.write_text(page(panels))
        subprocess.run(  # noqa: S603 - a fixed local binary
            [
                CHROMIUM,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--screenshot={out.resolve()}",
                "--window-size=1780,960",
                document.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
