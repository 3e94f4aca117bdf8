"""The command line's face: help never starts anything, errors are one line with a documented exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.core
import typer.main

from services import cli


def newsflow(*args: str, cwd: Path | None = None, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "NEWSFLOW_HOME")
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("stage", ["ingest", "enrich", "store", "lag-exporter", "dev", "run"])
def test_help_prints_help_and_starts_nothing(stage: str, tmp_path: Path) -> None:
    # A database that is not there: a store that started would fail with exit 3 instead of printing help.
    result = newsflow(stage, "--help", cwd=tmp_path, DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: newsflow {stage}")
    assert not (tmp_path / ".newsflow").exists()


def test_version() -> None:
    result = newsflow("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "newsflow 0.1.0"


def _commands(command: typer.core.TyperCommand, path: str = "newsflow") -> list[tuple[str, typer.core.TyperCommand]]:
    found = [(path, command)]
    if isinstance(command, typer.core.TyperGroup):
        for name, sub in command.commands.items():
            found += _commands(sub, f"{path} {name}")
    return found


def test_every_command_and_option_is_documented_in_plain_text() -> None:
    commands = _commands(typer.main.get_command(cli.app))  # type: ignore[arg-type]
    assert {"newsflow run", "newsflow db upgrade", "newsflow lag-exporter"} <= {path for path, _ in commands}
    options = 0
    for path, command in commands:
        assert command.help, f"{path} has no help"
        assert "``" not in command.help, f"{path}: reST markup in help"
        for param in command.params:
            if isinstance(param, typer.core.TyperOption) and param.name != "help":
                options += 1
                assert param.help, f"{path} {param.opts[0]} has no help"
                assert "``" not in param.help
    assert options >= 12


def test_an_unreachable_database_is_one_line_and_exit_3() -> None:
    result = newsflow("export", DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode == 3
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("newsflow: cannot connect to Postgres"), result.stderr
    debug = newsflow("--debug", "export", DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    assert "Traceback" in debug.stderr  # --debug keeps the traceback for bug reports


def test_an_unreachable_broker_stops_dev_at_once_with_one_line(tmp_path: Path) -> None:
    result = newsflow("dev", cwd=tmp_path, timeout=60, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")
    assert result.returncode == 3
    assert result.stderr.strip() == "newsflow: no Kafka broker answers at 127.0.0.1:1 (KAFKA_BOOTSTRAP_SERVERS)"


@pytest.mark.parametrize("command", ["dev", "run"])
def test_a_missing_inbox_is_a_usage_error_for_dev_and_run(command: str, tmp_path: Path) -> None:
    result = newsflow(command, "--inbox", "no-such-folder", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"newsflow: no such folder: {tmp_path.resolve() / 'no-such-folder'}"
    assert not (tmp_path / "no-such-folder").exists()


def test_the_ledger_path_follows_ingest_ledger_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("INGEST_LEDGER_PATH", raising=False)
    assert cli._ledger_path(tmp_path) == tmp_path / "ingest-ledger.sqlite3"
    monkeypatch.setenv("INGEST_LEDGER_PATH", str(tmp_path / "elsewhere.sqlite3"))
    assert cli._ledger_path(tmp_path) == tmp_path / "elsewhere.sqlite3"


def test_dev_backs_off_between_restarts_and_gives_up_on_a_child_that_keeps_failing() -> None:
    delays = [cli.restart_delay(n) for n in range(0, 7)]
    assert delays[:5] == [5.0, 5.0, 10.0, 20.0, 40.0]
    assert delays[5:] == [None, None]  # it says why and stops instead of reloading spaCy forever


def test_the_readme_states_the_store_database_default_the_store_uses() -> None:
    from services.store.settings import StoreSettings

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `DATABASE_URL` |"))
    default = StoreSettings.model_fields["database_url"].default.get_secret_value()
    assert f"`newsflow store`: `{default}`" in row, row


MB = 2**20


@pytest.mark.parametrize(
    ("held", "in_flight", "unmoved_s", "paused", "step"),
    [
        (MB, 50, 0.0, False, cli.RecycleStep.WAIT),  # at the limit: nothing to do
        (MB + 1, 0, 0.0, False, cli.RecycleStep.REPLACE),  # over it, nothing in flight: swap now
        (MB + 1, 50, 0.0, False, cli.RecycleStep.PAUSE_INGEST),  # over it mid-burst: stop the inflow first
        (MB + 1, 50, 5.0, True, cli.RecycleStep.WAIT),  # paused, still draining
        (MB + 1, 50, cli._STUCK_S + 1, True, cli.RecycleStep.REPLACE),  # nothing moves: stuck, not in flight
        (2 * MB + 1, 50, 0.0, False, cli.RecycleStep.REPLACE),  # past twice the limit: whatever is in flight
    ],
)
def test_a_full_broker_is_drained_before_it_is_replaced(
    held: int, in_flight: int, unmoved_s: float, paused: bool, step: cli.RecycleStep
) -> None:
    """Issue 14: a burst grew the broker until it was replaced with thousands of files in flight, all
    republished; now ingest pauses and the broker is replaced once they are stored."""
    assert cli.recycle_step(held, MB, in_flight, unmoved_s, paused) is step


def test_a_kill_does_not_count_towards_giving_up_on_a_child() -> None:
    assert cli.counts_against_the_child(1, ran_s=3.0)  # failed by itself right after starting
    assert not cli.counts_against_the_child(1, ran_s=cli._QUICK_FAILURE_S + 1)  # ran a while first
    assert not cli.counts_against_the_child(-9, ran_s=3.0)  # SIGKILLed: an operator, the OOM killer, a drill
    assert not cli.counts_against_the_child(-15, ran_s=3.0)
