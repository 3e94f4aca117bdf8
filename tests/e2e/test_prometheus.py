"""Ops monitoring for real: `newsflow dev` scraped by Debian's Prometheus.

Prometheus (the real server, 1 s scrapes) scrapes the three stages and the lag exporter on the ports
dev prints; then the seeds and three bad files are dropped into the inbox. Through Prometheus's HTTP
API: every dashboard panel query returns a series, every series an alert expression reads exists, and
the dead-letter alert fires for ingest. The rules are deploy/prometheus/alerts.yml with their ``for``
durations set to 0s (the expressions are the deployed ones; waiting 15 minutes is not a test).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.localstack import free_port, scrape

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
FIXTURES = REPO / "tests" / "fixtures" / "ingest"
SEEDS = REPO.parent / "shared" / "seeds"
prometheus_bin = shutil.which("prometheus")


def _dashboard_queries() -> list[tuple[str, str]]:
    queries = []
    for path in sorted((DEPLOY / "grafana").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            queries += [(f"{path.stem}: {panel['title']}", target["expr"]) for target in panel["targets"]]
    return queries


def _alert_rules() -> list[dict[str, Any]]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"]]


def _selectors(expr: str) -> list[str]:
    """The instant-vector selectors of an expression (metric name and label matchers, no range)."""
    return [m.group(0) for m in re.finditer(r"\b(?:newsflow_[a-z_]+|up)(?:\{[^}]*\})?", expr)]


class Prometheus:
    def __init__(self, folder: Path, targets: dict[str, int]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
        for group in rules["groups"]:
            for rule in group["rules"]:
                rule["for"] = "0s"
        (folder / "alerts.yml").write_text(yaml.safe_dump(rules))
        stages = [f"127.0.0.1:{port}" for name, port in targets.items() if name != "lag-exporter"]
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["alerts.yml"],
            "scrape_configs": [
                {"job_name": "newsflow", "static_configs": [{"targets": stages}]},
                {
                    "job_name": "newsflow-lag-exporter",
                    "static_configs": [{"targets": [f"127.0.0.1:{targets['lag-exporter']}"]}],
                },
            ],
        }
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        assert prometheus_bin is not None
        self._log = (folder / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                prometheus_bin,
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


def _wait(what: str, condition: Any, timeout_s: float, interval_s: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except OSError as exc:  # Prometheus still starting
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[tuple[Path, dict[str, int]]]:
    (tmp_path / "inbox").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "NEWSFLOW_HOME")}
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "dev", "--inbox", "inbox", "--metrics-base-port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ports_file = tmp_path / ".newsflow" / "metrics-ports.json"
        _wait("dev to assign metrics ports", ports_file.exists, 120)
        ports: dict[str, int] = json.loads(ports_file.read_text())
        assert set(ports) == {"ingest", "enrich", "store", "lag-exporter"}
        assert len(set(ports.values())) == 4
        yield tmp_path, ports
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def prometheus_installed() -> None:
    """Before dev starts: skip without Prometheus, except in CI, where .ci/run installs it."""
    if prometheus_bin is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus is required in CI (.ci/run installs the Debian package)")
        pytest.skip("prometheus not installed (Debian package `prometheus`)")


@pytest.mark.timeout(900)
def test_prometheus_scrapes_every_stage_and_every_panel_and_alert_query_has_data(
    prometheus_installed: None, dev: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    home, ports = dev
    # Each child serves its own stage's collectors on its own port.
    for name in ("ingest", "enrich", "store"):
        samples = _wait(f"{name} metrics", lambda name=name: scrape(ports[name]), 120)
        stages = {
            dict(labels).get("stage") for (sample, labels), _ in samples.items() if sample.startswith("newsflow_")
        }
        assert stages - {None} == {name}, (name, stages)

    prometheus = Prometheus(tmp_path / "prometheus", ports)
    try:
        _wait(
            "every target up",
            lambda: len([t for t in prometheus.api("targets")["activeTargets"] if t["health"] == "up"]) == 4,
            120,
        )
        time.sleep(3)  # a few scrapes of the zeros first, so the first increments show as increases

        inbox = home / "inbox"
        seeds = sorted(SEEDS.glob("*.txt")) if SEEDS.is_dir() else [FIXTURES / "trade_talks_comments.txt"]
        for seed in seeds:
            shutil.copy(seed, inbox / seed.name)
        (inbox / "empty.txt").write_bytes(b"")
        shutil.copy(FIXTURES / "image.png", inbox / "image.png")
        shutil.copy(FIXTURES / "malformed.json", inbox / "malformed.json")

        stored = f'sum(newsflow_store_rows_written_total{{table="articles"}}) >= {len(seeds)}'
        _wait("the seeds to be stored", lambda: prometheus.query(stored), 600, 2)
        dead = 'sum(newsflow_store_rows_written_total{table="dead_letters"}) >= 3'
        _wait("the refusals to be stored", lambda: prometheus.query(dead), 120, 2)

        missing: dict[str, str] = {}
        for title, expr in _dashboard_queries():
            if not _wait_quietly(lambda expr=expr: prometheus.query(expr), 30):
                missing[title] = expr
        assert not missing, f"panel queries without a series: {missing}"

        for rule in _alert_rules():
            for selector in _selectors(rule["expr"]):
                assert prometheus.query(selector), f"{rule['alert']}: no series for {selector}"

        def ingest_alert() -> list[dict[str, Any]]:
            return [
                a
                for a in prometheus.api("alerts")["alerts"]
                if a["labels"]["alertname"] == "NewsflowDeadLetterRateHigh"
                and a["labels"].get("stage") == "ingest"
                and a["state"] == "firing"
            ]

        _wait("NewsflowDeadLetterRateHigh to fire for ingest", ingest_alert, 60)
        processed = prometheus.query('sum by (outcome) (newsflow_messages_processed_total{stage="ingest"})')
        by_outcome = {r["metric"]["outcome"]: float(r["value"][1]) for r in processed}
        assert by_outcome["dead_letter"] == 3 and by_outcome["ok"] == len(seeds), by_outcome
        latency = prometheus.query('sum(newsflow_end_to_end_seconds_count{stage="store"})')
        assert float(latency[0]["value"][1]) >= len(seeds)

        # Each refusal is one JSON log line naming the file; every line of every service log is JSON.
        logs = {path.stem: path.read_text().splitlines() for path in (home / ".newsflow" / "logs").glob("*.log")}
        refusals = [json.loads(line) for line in logs["ingest"] if '"dead-lettered"' in line]
        assert sorted(Path(r["source_uri"]).name for r in refusals) == ["empty.txt", "image.png", "malformed.json"]
        for name in ("ingest", "enrich", "store", "lag-exporter"):
            for line in logs[name]:
                assert json.loads(line)["time"].endswith("Z"), (name, line)
    finally:
        prometheus.stop()


def _wait_quietly(condition: Any, timeout_s: float) -> bool:
    try:
        _wait("", condition, timeout_s)
        return True
    except AssertionError:
        return False
