"""What the ops tests share: paths, promtool, a real Prometheus process, PromQL metric-name extraction."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.net import free_port

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"
GRAFANA_DIR = REPO / "deploy" / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"


def tool(name: str) -> str:
    """The path of a Prometheus binary; a missing one fails the test (make tools installs it)."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: run `bash deploy/local/prometheus.sh` (or `make tools`)")
    return found


def run_promtool(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def all_rules() -> Iterator[dict[str, Any]]:
    for path in rule_files():
        for group in load_yaml(path)["groups"]:
            yield from group["rules"]


def recording_rules() -> dict[str, str]:
    return {r["record"]: r["expr"] for r in all_rules() if "record" in r}


def alerting_rules() -> list[dict[str, Any]]:
    return [r for r in all_rules() if "alert" in r]


# -- dashboards ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    expr: str

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel}: {self.expr}"


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS_DIR.glob("*.json"))


def panel_queries(*, as_templates: bool = False) -> list[PanelQuery]:
    """Every panel's queries as Prometheus gets them with every template variable at "All" (its
    `allValue`), or `as_templates`: as written, `$shop` and all."""
    queries = []
    for path in dashboard_files():
        dashboard = json.loads(path.read_text())
        variables = {v["name"]: v.get("allValue", ".*") for v in dashboard["templating"]["list"]}
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                if not as_templates:
                    for name, value in variables.items():
                        expr = expr.replace(f"${name}", value)
                queries.append(PanelQuery(dashboard["title"], panel["title"], expr))
    return queries


# -- PromQL --------------------------------------------------------------------------------------
_KEYWORDS = frozenset(
    {
        *("and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"),
        *("offset", "bool", "inf", "nan", "sum", "min", "max", "avg", "count", "stddev", "stdvar"),
        *("topk", "bottomk", "quantile", "count_values", "group"),
    }
)
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_DURATION_AFTER_OFFSET = re.compile(r"\boffset\s+-?\d+[smhdwy]+")
_IDENTIFIER = re.compile(r"(?<![\w:.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (functions, keywords, labels and durations removed)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _DURATION_AFTER_OFFSET.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name in _KEYWORDS or re.fullmatch(r"\d.*", name):
            continue
        names.add(name)
    return names


def base_metric_names(expr: str, recorded: dict[str, str]) -> set[str]:
    """Metric names behind an expression, looking through recording rules to what they read."""
    found: set[str] = set()
    pending = list(metric_names(expr))
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in recorded:
            pending.extend(metric_names(recorded[name]))
        else:
            found.add(name)
    return found


SYNTHETIC = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
"""Series Prometheus writes itself for every target."""


def exported_names(exposition: str) -> dict[str, str]:
    """Metric family name → type, from the `# TYPE` lines of a /metrics page (present before any sample)."""
    families = {}
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            families[name] = kind
    return families


def is_exported(name: str, families: dict[str, str]) -> bool:
    if name in families or name in SYNTHETIC:
        return True
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and families.get(name.removesuffix(suffix)) == "histogram":
            return True
    return False


# -- a real Prometheus ---------------------------------------------------------------------------


class Prometheus:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.AsyncClient(base_url=base_url, timeout=10.0)

    async def query(self, expr: str) -> dict[str, Any]:
        """The API's answer to an instant query: {"status": "success"|"error", ...}."""
        response = await self.http.get("/api/v1/query", params={"query": expr})
        body: dict[str, Any] = response.json()
        return body

    async def query_range(self, expr: str, start: float, end: float, step: float) -> dict[str, Any]:
        response = await self.http.get(
            "/api/v1/query_range", params={"query": expr, "start": start, "end": end, "step": step}
        )
        body: dict[str, Any] = response.json()
        return body

    async def rule_groups(self) -> list[dict[str, Any]]:
        body = (await self.http.get("/api/v1/rules")).json()
        groups: list[dict[str, Any]] = body["data"]["groups"]
        return groups

    async def targets(self) -> list[dict[str, Any]]:
        body = (await self.http.get("/api/v1/targets")).json()
        active: list[dict[str, Any]] = body["data"]["activeTargets"]
        return active


def local_config(targets: dict[str, str], interval: str = "1s") -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with the services at `targets` (app → host:port), scraping
    and evaluating every `interval`, the rules referenced by absolute path."""
    config: dict[str, Any] = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    config["global"]["scrape_interval"] = interval
    config["global"]["evaluation_interval"] = interval
    config["rule_files"] = [str(RULES_DIR / "*.yml")]
    for job in config["scrape_configs"]:
        if job["job_name"] == "careloop":
            job["static_configs"] = [
                {"targets": [address], "labels": {"app": app}} for app, address in targets.items()
            ]
        else:
            job["static_configs"] = []
    return config


@asynccontextmanager
async def running_prometheus(config: dict[str, Any]) -> AsyncIterator[Prometheus]:
    """Debian's prometheus on a free loopback port with its own storage, stopped afterwards."""
    binary = tool("prometheus")
    with tempfile.TemporaryDirectory(prefix="careloop-prometheus-") as tmp:
        config_file = Path(tmp) / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config))
        port = free_port()
        log = (Path(tmp) / "prometheus.log").open("wb")
        process = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={Path(tmp) / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h",
            stdout=log,
            stderr=log,
        )
        prometheus = Prometheus(f"http://127.0.0.1:{port}")
        try:
            await _wait_ready(prometheus, process, Path(tmp) / "prometheus.log")
            yield prometheus
        finally:
            await prometheus.http.aclose()
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 15)
                except TimeoutError:
                    process.kill()
                    await process.wait()
            log.close()


async def _wait_ready(prometheus: Prometheus, process: asyncio.subprocess.Process, log_file: Path) -> None:
    def log() -> str:
        return log_file.read_text()[-3000:]

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while loop.time() < deadline:
        if process.returncode is not None:
            raise AssertionError(f"prometheus exited with {process.returncode}:\n{log()}")
        with contextlib.suppress(httpx.HTTPError):
            if (await prometheus.http.get("/-/ready")).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise AssertionError(f"prometheus not ready within 60 s:\n{log()}")
