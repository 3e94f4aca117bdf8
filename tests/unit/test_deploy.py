"""deploy/ is checked with what runs here: promtool for the Prometheus config and alert rules (unit
tests of the rules included), and consistency checks between manifests, settings and metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from services.enrich.settings import EnrichSettings
from services.ingest.settings import IngestSettings
from services.runtime import metrics
from services.store.settings import StoreSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KNOWN_SETTINGS = {
    name.upper() for model in (IngestSettings, EnrichSettings, StoreSettings) for name in model.model_fields
}


def _metric_names() -> set[str]:
    names: set[str] = set()
    for collector in vars(metrics).values():
        if isinstance(collector, MetricWrapperBase):
            for family in collector.describe():
                for sample_suffix in ("", "_total", "_bucket", "_sum", "_count", "_info"):
                    names.add(family.name + sample_suffix)
    return names


def _exprs() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    for path in sorted((DEPLOY / "grafana").glob("*.json")):
        dashboard = json.loads(path.read_text())
        exprs += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    return exprs


def test_alerts_and_dashboard_only_use_metrics_that_exist() -> None:
    known = _metric_names()
    used = {name for expr in _exprs() for name in re.findall(r"newsflow_[a-z_]+", expr)}
    assert used, "no newsflow metric referenced at all"
    assert used <= known, f"unknown metrics: {sorted(used - known)}"


def test_manifests_only_set_settings_the_services_read() -> None:
    documents = [
        doc
        for path in sorted((DEPLOY / "kubernetes").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    config = [d for d in documents if d["kind"] in ("ConfigMap", "Secret")]
    keys = {key for d in config for key in (d.get("data") or d.get("stringData") or {})}
    assert keys and keys <= KNOWN_SETTINGS, f"unknown settings: {sorted(keys - KNOWN_SETTINGS)}"
    workloads = {d["metadata"]["name"]: d for d in documents if d["kind"] in ("Deployment", "StatefulSet")}
    assert set(workloads) == {"newsflow-ingest", "newsflow-enrich", "newsflow-store", "newsflow-lag-exporter"}
    for workload in workloads.values():
        container = workload["spec"]["template"]["spec"]["containers"][0]
        assert container["args"][0] in ("ingest", "enrich", "store", "lag-exporter")
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    env = compose["services"]["ingest"]["environment"]
    assert set(env) <= KNOWN_SETTINGS, f"unknown settings: {sorted(set(env) - KNOWN_SETTINGS)}"


promtool = shutil.which("promtool")


@pytest.mark.skipif(
    promtool is None, reason="promtool not installed (Debian package `prometheus`; .ci/run installs it)"
)
def test_prometheus_config_and_alert_rules_pass_promtool() -> None:
    assert promtool is not None
    folder = DEPLOY / "prometheus"
    for args in (
        ["check", "config", "prometheus.yml"],
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],
    ):
        result = subprocess.run([promtool, *args], cwd=folder, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def _labelnames() -> dict[str, set[str]]:
    """Sample name -> the label names the collector emits it with."""
    names: dict[str, set[str]] = {}
    for collector in vars(metrics).values():
        if isinstance(collector, MetricWrapperBase):
            labels = set(collector._labelnames)
            for family in collector.describe():
                for suffix in ("", "_total", "_count", "_sum"):
                    names[family.name + suffix] = labels
                names[family.name + "_bucket"] = labels | {"le"}
    return names


def test_the_promtool_tests_feed_series_the_services_emit() -> None:
    known = _labelnames()
    tests = yaml.safe_load((DEPLOY / "prometheus" / "alerts_test.yml").read_text())["tests"]
    series = [s["series"] for test in tests for s in test["input_series"]]
    assert series
    for text in series:
        name, _, labels = text.partition("{")
        assert name in known, f"{name} is not a newsflow metric"
        keys = {pair.split("=", 1)[0] for pair in labels.rstrip("}").split(",") if pair}
        # job and instance are Prometheus's target labels; the rest must be the collector's own.
        assert keys - {"job", "instance"} == known[name], f"{text}: labels {sorted(keys)} vs {sorted(known[name])}"
