"""A small dashboards-as-code kit: panels as data, rendered to the Grafana dashboard JSON model.

Kept to what CareLoop's dashboards use (time series and stats over one Prometheus datasource), so the
JSON stays reviewable and `python deploy/grafana/generate.py` is the only way the files change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

DATASOURCE = {"type": "prometheus", "uid": "careloop-prometheus"}
"""Matches the uid in provisioning/datasources/prometheus.yml."""

GRID_WIDTH = 24
STAT_SIZE = (6, 4)
SERIES_SIZE = (12, 8)


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: Literal["timeseries", "stat"] = "timeseries"
    description: str = ""
    decimals: int | None = None


@dataclass(frozen=True)
class Variable:
    """A template variable read from a label's values (`label_values(<label>)`), several or all
    selectable; "All" stands for `all_value` in the queries (a regex matching every value)."""

    name: str
    label: str
    description: str = ""
    all_value: str = ".*"


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    tags: tuple[str, ...] = field(default=("careloop",))
    variables: tuple[Variable, ...] = ()


def stat(
    title: str, expr: str, unit: str = "short", description: str = "", decimals: int | None = None
) -> Panel:
    return Panel(title, (Query(expr),), unit, "stat", description, decimals)


def series(title: str, *queries: Query, unit: str = "short", description: str = "") -> Panel:
    return Panel(title, queries, unit, "timeseries", description)


def _layout(panels: tuple[Panel, ...]) -> list[dict[str, int]]:
    """Left to right, top to bottom; a panel that does not fit the row starts a new one."""
    positions: list[dict[str, int]] = []
    x = y = row_height = 0
    for panel in panels:
        width, height = STAT_SIZE if panel.kind == "stat" else SERIES_SIZE
        if x + width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        positions.append({"h": height, "w": width, "x": x, "y": y})
        x += width
        row_height = max(row_height, height)
    return positions


def _targets(panel: Panel) -> list[dict[str, Any]]:
    return [
        {
            "refId": chr(ord("A") + i),
            "datasource": DATASOURCE,
            "expr": q.expr,
            "legendFormat": q.legend or "__auto",
            "range": panel.kind == "timeseries",
            "instant": panel.kind == "stat",
        }
        for i, q in enumerate(panel.queries)
    ]


def _options(panel: Panel) -> dict[str, Any]:
    if panel.kind == "stat":
        return {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none",
            "textMode": "auto",
            "justifyMode": "auto",
            "orientation": "auto",
        }
    return {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }


def render_panel(panel: Panel, panel_id: int, position: dict[str, int]) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit}
    if panel.decimals is not None:
        defaults["decimals"] = panel.decimals
    if panel.kind == "timeseries":
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 2, "fillOpacity": 10, "showPoints": "never"}
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": position,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": _options(panel),
        "targets": _targets(panel),
    }


def render_variable(variable: Variable) -> dict[str, Any]:
    query = f"label_values({variable.name})"
    return {
        "name": variable.name,
        "label": variable.label,
        "description": variable.description,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": f"{variable.name}-values"},
        "refresh": 2,
        "sort": 1,
        "multi": True,
        "includeAll": True,
        "allValue": variable.all_value,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "hide": 0,
    }


def render(dashboard: Dashboard) -> dict[str, Any]:
    positions = _layout(dashboard.panels)
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": list(dashboard.tags),
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [render_variable(v) for v in dashboard.variables]},
        "annotations": {"list": []},
        "links": [{"title": "CareLoop", "type": "dashboards", "tags": ["careloop"], "asDropdown": True}],
        "panels": [
            render_panel(panel, i + 1, pos)
            for i, (panel, pos) in enumerate(zip(dashboard.panels, positions, strict=True))
        ],
    }
