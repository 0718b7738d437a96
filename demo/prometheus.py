"""A local Prometheus for the demo, when Debian's package is installed (`bash deploy/local/prometheus.sh`):
deploy/prometheus/prometheus.yml (read only) with the targets `make run` actually uses, its recording
and alert rules, plus the demo receiver's own counters."""

from __future__ import annotations

import shutil
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tools.stack import Child

REPO = Path(__file__).resolve().parents[1]
OPS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
RULES = REPO / "deploy" / "prometheus" / "rules" / "*.yml"


def demo_config(
    service_addresses: Mapping[str, str], receiver_address: str, own_address: str
) -> dict[str, Any]:
    """The ops config with `service_addresses` (app → host:port) in its careloop job."""
    config: dict[str, Any] = yaml.safe_load(OPS_CONFIG.read_text())
    config["rule_files"] = [str(RULES)]
    for job in config["scrape_configs"]:
        if job["job_name"] == "careloop":
            job["static_configs"] = [
                {"targets": [address], "labels": {"app": app}} for app, address in service_addresses.items()
            ]
        elif job["job_name"] == "prometheus":
            job["static_configs"] = [{"targets": [own_address]}]
    config["scrape_configs"].append(
        {
            "job_name": "careloop-demo",
            "static_configs": [{"targets": [receiver_address], "labels": {"app": "demo"}}],
        }
    )
    return config


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def prometheus_child(
    workdir: Path, service_addresses: Mapping[str, str], receiver_address: str, host: str, port: int
) -> tuple[Child | None, str]:
    """The Prometheus child to start (or None) and a line saying what became of it."""
    binary = shutil.which("prometheus")
    if binary is None:
        return None, "not installed (bash deploy/local/prometheus.sh installs Debian's package)"
    if not port_free(host, port):
        return None, f"not started: {host}:{port} is taken (DEMO_PROMETHEUS_PORT moves it)"
    shutil.rmtree(workdir, ignore_errors=True)  # a fresh TSDB: the demo's time origin is new each run
    workdir.mkdir(parents=True)
    config_file = workdir / "prometheus.yml"
    own = f"{host}:{port}"
    config_file.write_text(yaml.safe_dump(demo_config(service_addresses, receiver_address, own)))
    argv = [
        binary,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address={own}",
        "--storage.tsdb.retention.time=2d",
    ]
    # Not essential: the demo goes on if Prometheus stops.
    return Child("prometheus", argv, essential=False), f"http://{own}"


if __name__ == "__main__":  # print the config `make run` would use, for a look
    yaml.safe_dump(demo_config({"intake": "127.0.0.1:8001"}, "127.0.0.1:8009", "127.0.0.1:9090"), sys.stdout)
