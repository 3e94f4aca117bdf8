"""The dashboards type-check against Grafana's published dashboard schema (npm @grafana/schema) with
tsc. The npm packages come from deploy/grafana/schema-check's lockfile (``npm ci``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
CHECK = GRAFANA / "schema-check"
npm = shutil.which("npm")


@pytest.fixture(scope="module")
def schema_check() -> Path:
    if npm is None:
        if os.environ.get("CI") == "true":
            pytest.fail("npm is required in CI to validate the Grafana dashboards")
        pytest.skip("npm not installed")
    if not (CHECK / "node_modules" / "@grafana" / "schema").is_dir():
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=CHECK, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, result.stdout + result.stderr
    return CHECK


def _typecheck(check: Path, dashboards: dict[str, str]) -> subprocess.CompletedProcess[str]:
    generated = check / "generated"
    shutil.rmtree(generated, ignore_errors=True)
    generated.mkdir()
    try:
        for name, text in dashboards.items():
            # An object literal typed as Dashboard: tsc checks every field's type and refuses unknown ones.
            (generated / f"{name}.ts").write_text(
                f"import type {{ Dashboard }} from '@grafana/schema';\n\nexport const dashboard: Dashboard = {text};\n"
            )
        tsc = check / "node_modules" / ".bin" / "tsc"
        return subprocess.run([str(tsc), "-p", "tsconfig.json"], cwd=check, capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(generated, ignore_errors=True)


def test_every_dashboard_matches_grafanas_published_schema(schema_check: Path) -> None:
    dashboards = {path.stem: path.read_text() for path in sorted(GRAFANA.glob("*.json"))}
    assert set(dashboards) == {"newsflow-overview", "newsflow-quality"}
    result = _typecheck(schema_check, dashboards)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_check_refuses_a_dashboard_that_breaks_the_schema(schema_check: Path) -> None:
    broken = json.loads((GRAFANA / "newsflow-overview.json").read_text())
    broken["panels"][0]["gridPos"]["w"] = "wide"
    result = _typecheck(schema_check, {"broken": json.dumps(broken)})
    assert result.returncode != 0
    assert "gridPos" in result.stdout or "not assignable" in result.stdout, result.stdout
