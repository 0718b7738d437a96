"""The Dockerfile, compose file and Kubernetes manifests cannot run here: validate them with what can
(Kubernetes JSON schemas, docker-compose's own validation) and keep them in step with the code
(ports, settings' environment variables, module names, topic partitions)."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from packaging.requirements import Requirement

from runtime.settings import Settings
from runtime.shops import Shop
from schemas.topics import ALL_TOPICS
from services import SERVICE_NAMES, SERVICE_PORTS
from tests.ops.support import PROMETHEUS_DIR, REPO, RULES_DIR, load_yaml

DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose" / "compose.yml"
KUBERNETES_VERSION = "1.33.0"


def settings_env_names() -> set[str]:
    names = set()
    for field_name, info in Settings.model_fields.items():
        alias = info.validation_alias
        names.add(alias.upper() if isinstance(alias, str) else field_name.upper())
    return names


def partition_ceiling(service: str) -> int:
    """Replicas beyond this many would get no partition of some topic the service consumes (a
    compacted topic sets none: every replica reads it whole, without a consumer group)."""
    return min(t.partitions for t in ALL_TOPICS if service in t.consumers and not t.compacted)


# -- Kubernetes ----------------------------------------------------------------------------------
def k8s_documents() -> list[tuple[Path, dict[str, Any]]]:
    docs: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs.extend((path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def k8s_object(kind: str, name: str) -> dict[str, Any]:
    for _, doc in k8s_documents():
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} {name} in deploy/k8s")


@pytest.mark.parametrize(
    "document", k8s_documents(), ids=lambda d: f"{d[0].name}:{d[1]['kind']}/{d[1]['metadata']['name']}"
)
def test_every_manifest_is_valid_against_the_kubernetes_schema(document: tuple[Path, dict[str, Any]]) -> None:
    _, doc = document
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    assert doc["metadata"].get("namespace", "careloop") == "careloop"


def test_kustomization_lists_every_manifest() -> None:
    kustomization = load_yaml(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_service_deploys_its_module_port_and_probes(service: str) -> None:
    port = SERVICE_PORTS[service]
    deployment = k8s_object("Deployment", f"careloop-{service}")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", f"services.{service}"]
    assert importlib.util.find_spec(f"services.{service}.__main__") is not None
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CARELOOP_SERVICE"] == service
    assert env["CARELOOP_HTTP_PORT"] == str(port)
    assert [p["containerPort"] for p in container["ports"]] == [port]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert k8s_object("Service", service)["spec"]["ports"][0]["port"] == port
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    settings = k8s_object("ConfigMap", "careloop-settings")["data"]
    assert settings["CARELOOP_SHOPS_FILE"] == f"{mounts['shops']}/shops.json"


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_replicas_stay_within_the_partitions_of_the_consumed_topics(service: str) -> None:
    ceiling = partition_ceiling(service)
    deployment = k8s_object("Deployment", f"careloop-{service}")
    autoscaler = k8s_object("HorizontalPodAutoscaler", f"careloop-{service}")
    assert 2 <= deployment["spec"]["replicas"] <= ceiling
    assert autoscaler["spec"]["maxReplicas"] <= ceiling
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]


def test_manifests_set_only_environment_variables_the_settings_read() -> None:
    known = settings_env_names()
    used = set(k8s_object("ConfigMap", "careloop-settings")["data"])
    used |= set(k8s_object("Secret", "careloop-database")["stringData"])
    for _, doc in k8s_documents():
        if doc["kind"] == "Deployment":
            used |= {e["name"] for e in doc["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert used - known == set()


def test_the_shops_config_map_is_a_valid_shop_registry() -> None:
    document = json.loads(k8s_object("ConfigMap", "careloop-shops")["data"]["shops.json"])
    assert [Shop.model_validate(s).id for s in document["shops"]]


# -- compose -------------------------------------------------------------------------------------
def compose() -> dict[str, Any]:
    document: dict[str, Any] = load_yaml(COMPOSE)
    return document


def test_docker_compose_accepts_the_file() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail(
            "docker-compose not found: apt-get install docker-compose (it validates without an engine)"
        )
    result = subprocess.run(
        [binary, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_compose_runs_each_service_on_its_port_from_the_one_image(service: str) -> None:
    services = compose()["services"]
    spec = services[service]
    port = SERVICE_PORTS[service]
    assert spec["environment"]["CARELOOP_SERVICE"] == service
    assert spec["ports"] == [f"{port}:{port}"]
    assert spec["build"] == {"context": "../..", "dockerfile": "deploy/Dockerfile"}
    assert spec["image"] == services["bootstrap"]["image"]
    assert f"{port}/health/ready" in " ".join(spec["healthcheck"]["test"])
    assert spec["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"
    assert set(spec["environment"]) - settings_env_names() == set()


def test_compose_bootstraps_with_the_stack_module() -> None:
    bootstrap = compose()["services"]["bootstrap"]
    assert bootstrap["command"] == ["python", "-m", "tools.stack", "bootstrap"]
    assert importlib.util.find_spec("tools.stack") is not None


def test_the_local_prometheus_scrapes_every_service_on_its_default_port() -> None:
    local = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    careloop = next(j for j in local["scrape_configs"] if j["job_name"] == "careloop")
    targets = {c["labels"]["app"]: c["targets"] for c in careloop["static_configs"]}
    assert targets == {name: [f"127.0.0.1:{SERVICE_PORTS[name]}"] for name in SERVICE_NAMES}


def test_compose_prometheus_scrapes_what_the_local_config_scrapes_under_container_names() -> None:
    local = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    container = load_yaml(DEPLOY / "compose" / "prometheus.yml")
    assert [j["job_name"] for j in local["scrape_configs"]] == [
        j["job_name"] for j in container["scrape_configs"]
    ]
    careloop = next(j for j in container["scrape_configs"] if j["job_name"] == "careloop")
    targets = {c["labels"]["app"]: c["targets"] for c in careloop["static_configs"]}
    assert targets == {name: [f"{name}:{SERVICE_PORTS[name]}"] for name in SERVICE_NAMES}
    assert local["global"] == container["global"]
    volumes = compose()["services"]["prometheus"]["volumes"]
    assert "../prometheus/rules:/etc/prometheus/rules:ro" in volumes
    assert container["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    assert RULES_DIR.is_dir()


def test_compose_grafana_home_dashboard_exists() -> None:
    grafana = compose()["services"]["grafana"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    mount = next(v for v in grafana["volumes"] if v.startswith("../grafana/dashboards:"))
    inside = mount.split(":")[1]
    assert (DEPLOY / "grafana" / "dashboards" / Path(home).relative_to(inside)).is_file()


# -- Dockerfile ----------------------------------------------------------------------------------
def test_dockerfile_serves_every_service_from_one_image() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    exposed = {int(p) for line in re.findall(r"^EXPOSE (.+)$", dockerfile, re.M) for p in line.split()}
    assert exposed == set(SERVICE_PORTS.values())
    assert "services.${CARELOOP_SERVICE" in dockerfile
    assert "CARELOOP_HTTP_HOST=0.0.0.0" in dockerfile
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, re.M))
    assert {"schemas", "runtime", "services"} <= copied
    assert "uv sync --frozen --no-dev" in dockerfile
    pyproject = (REPO / "pyproject.toml").read_text()
    python = re.search(r'requires-python = ">=(\d+\.\d+)', pyproject)
    assert python is not None
    assert f"FROM python:{python.group(1)}-slim" in dockerfile
    # the image's default CARELOOP_SHOPS_FILE (relative to /app) is the demo registry
    default_shops = Settings.model_fields["shops_file"].default
    assert f"COPY {default_shops} ./{default_shops}" in dockerfile


# -- what the image holds ------------------------------------------------------------------------
IMAGE_PACKAGES = ("schemas", "runtime", "services")


def _requirement_closure() -> set[str]:
    """Distributions `uv sync --no-dev` installs: the project's dependencies, transitively, with extras."""

    def normal(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    pending = [Requirement(r) for r in pyproject["project"]["dependencies"]]
    seen: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = normal(requirement.name)
        key = name + "[" + ",".join(sorted(requirement.extras)) + "]"
        if key in seen:
            continue
        seen.add(key)
        seen.add(name)
        try:
            declared = requires(requirement.name) or []
        except PackageNotFoundError:
            continue
        for line in declared:
            child = Requirement(line)
            environment = {"extra": ""}
            active = child.marker is None or any(
                child.marker.evaluate({**environment, "extra": extra}) for extra in ("", *requirement.extras)
            )
            if active:
                pending.append(child)
    return seen


def test_the_image_code_imports_only_the_standard_library_itself_and_runtime_dependencies() -> None:
    installed = _requirement_closure()
    distributions = packages_distributions()
    problems = []
    for package in IMAGE_PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for top in {n.split(".")[0] for n in names}:
                    if top in sys.stdlib_module_names or top in IMAGE_PACKAGES or top == "__future__":
                        continue
                    dists = {re.sub(r"[-_.]+", "-", d).lower() for d in distributions.get(top, [])}
                    if not dists & installed:
                        problems.append(
                            f"{path.relative_to(REPO)} imports {top} ({dists or 'not installed'})"
                        )
    assert problems == []


def test_the_replica_safety_the_manifests_promise_is_in_the_code() -> None:
    for service in ("sla", "notify", "survey"):
        sources = "".join(p.read_text() for p in (REPO / "services" / service).rglob("*.py"))
        assert "FOR UPDATE SKIP LOCKED" in sources, service
    assert "pg_try_advisory_xact_lock" in (REPO / "runtime" / "outbox.py").read_text()
