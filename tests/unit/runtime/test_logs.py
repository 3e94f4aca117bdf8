"""Logs are JSON with RFC 3339 UTC times; a dead letter is one line; an uncaught error is JSON too."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from services.contracts import DeadLetterReason, SourceRef, Stage
from services.runtime import deadletters
from services.runtime.logs import configure_logging, log_dead_letter, rfc3339


@pytest.fixture
def configured_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers and sys.excepthook: put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level, hook = root.handlers[:], root.level, sys.excepthook
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        sys.excepthook = hook


def test_timestamps_are_rfc3339_utc() -> None:
    assert rfc3339(0.0555) == "1970-01-01T00:00:00.055Z"
    parsed = dt.datetime.fromisoformat(rfc3339(1_780_000_000.25))
    assert parsed.tzinfo is not None and parsed.utcoffset() == dt.timedelta(0)


@pytest.mark.usefixtures("configured_logging")
def test_a_dead_letter_is_one_json_line_with_stage_reason_and_source(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("ingest", "INFO", "json")
    source = SourceRef(uri="file:///inbox/image.png", version="1", format="unknown", size=3, sha256="ab")
    log_dead_letter(deadletters.for_source(Stage.INGEST, DeadLetterReason.BINARY, "binary data", source, None))
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["message"] == "dead-lettered"
    assert (entry["stage"], entry["reason"], entry["source_uri"]) == ("ingest", "binary", "file:///inbox/image.png")
    assert entry["time"].endswith("Z") and "T" in entry["time"]
    assert entry["service"] == "ingest"


def _service_without_broker(module: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "METRICS_PORT": "0"}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


def test_a_service_without_a_broker_says_so_in_json_and_exits_3() -> None:
    result = _service_without_broker("services.ingest")
    assert result.returncode == 3, result.stderr
    lines = [json.loads(line) for line in result.stderr.strip().splitlines()]  # every line is JSON
    assert "Traceback" not in result.stderr
    assert any(e["level"] == "ERROR" and "127.0.0.1:1" in e.get("error", "") for e in lines), lines


def test_an_uncaught_error_is_logged_as_json() -> None:
    code = (
        "from services.runtime.logs import configure_logging\n"
        "configure_logging('store', 'INFO', 'json')\n"
        "raise RuntimeError('boom')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    entry = json.loads(result.stderr.strip())
    assert entry["level"] == "CRITICAL" and "boom" in entry["message"] and "RuntimeError" in entry["exc_info"]
