"""``newsflow``: the command line. The command face only: the local supervisor is ``services.localstack``,
the "has everything arrived" logic ``services.arrival``, the store's queries ``services.store.read``,
redriving dead letters ``services.redrive``, re-enrichment ``services.backfill``, re-extraction ``services.reingest``.

Exit codes (also in the README): 0 done; 1 the work did not finish (a stage crashed, a timeout);
2 wrong usage (an option, a missing folder, a metrics port in use); 3 the broker or the database cannot
be reached. A reader that goes away (``newsflow export | head``) ends the command quietly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from services import arrival
from services.contracts import DeadLetterReason, Stage
from services.contracts.asyncapi import check_asyncapi, write_asyncapi
from services.contracts.schemas import check_schemas, write_schemas
from services.ingest.settings import IngestSettings
from services.localstack import (
    LAG_EXPORTER,
    BrokerUnreachable,
    PortInUse,
    ServiceProcess,
    Stack,
    enrich_workers_for,
    last_error,
    local_database,
    local_stack,
    newsflow_home,
    scrape,
)
from services.runtime.errors import ConfigurationError, ExitCode, TransientError
from services.store.read import StoreReader
from services.store.repository import Repository

if TYPE_CHECKING:
    from services.backfill import DiffReport

app = typer.Typer(
    name="newsflow",
    help="newsflow: files dropped into a folder or bucket become enriched, queryable news records "
    "(ingest -> enrich -> store over Kafka, Postgres at the end). The broker and the database are embedded "
    "unless KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL are set; embedded state lives under NEWSFLOW_HOME "
    "(default ./.newsflow). Exit codes: 0 done, 1 unfinished, 2 usage, 3 broker or database unreachable.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DEV_METRICS_BASE_PORT = 9100
# dev gives up on a child that keeps failing within this long of its start, this many times in a row.
_QUICK_FAILURE_S = 60.0
_MAX_QUICK_FAILURES = 5


class RedriveState(StrEnum):
    OPEN = "open"
    REDRIVEN = "redriven"


class UserError(Exception):
    """Ends the command with one line on stderr and the given exit code."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Options:
    debug: bool = False


_options = _Options()


def _version(value: bool) -> None:
    if value:
        out.print(f"newsflow {package_version('newsflow')}")
        raise typer.Exit()


@app.callback()
def _global(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error.")] = False,
) -> None:
    _options.debug = debug


# -- helpers ---------------------------------------------------------------------------------------


def _home() -> Path:
    return newsflow_home()


def _ledger_path(home: Path) -> Path:
    """Ingest's ledger as the services see it (INGEST_LEDGER_PATH, else under NEWSFLOW_HOME)."""
    return IngestSettings(newsflow_home=home).ledger_path


@contextmanager
def _reader(url: str) -> Iterator[StoreReader]:
    with Repository(url) as repository:
        repository.migrate()
        yield StoreReader(repository)


@contextmanager
def _existing_repository() -> Iterator[Repository]:
    """The store's database for commands on what is stored: DATABASE_URL, or the embedded one a previous
    `run` or a running `dev` left under NEWSFLOW_HOME."""
    home = _home()
    if not os.environ.get("DATABASE_URL") and not (home / "pgdata" / "PG_VERSION").exists():
        raise UserError(f"no database under {home} and DATABASE_URL is not set", ExitCode.FAILED)
    with local_database(home) as (url, _), Repository(url) as repository:
        repository.migrate()
        yield repository


@contextmanager
def _existing_reader() -> Iterator[StoreReader]:
    with _existing_repository() as repository:
        yield StoreReader(repository)


def _since(value: str | None) -> dt.datetime | None:
    from services.redrive import parse_since

    try:
        return None if value is None else parse_since(value)
    except ValueError as exc:
        raise UserError(str(exc), ExitCode.USAGE) from exc


@contextmanager
def _stack(metrics_base_port: int) -> Iterator[Stack]:
    try:
        with local_stack(_home(), metrics_base_port) as stack:
            yield stack
    except BrokerUnreachable as exc:
        raise UserError(str(exc), ExitCode.UNREACHABLE) from exc


def _inbox(path: Path, create_default: bool) -> Path:
    inbox = path.resolve()
    if not inbox.is_dir():
        if create_default and not inbox.exists():
            inbox.mkdir(parents=True)
        else:
            raise UserError(f"no such folder: {inbox}", ExitCode.USAGE)
    return inbox


def _start(
    stack: Stack,
    inbox: Path,
    workers: int,
    ingest_args: list[str] | None,
    lag_exporter: bool,
    static_assignment: bool = False,
) -> None:
    try:
        stack.start_pipeline(
            inbox, workers, ingest_args, lag_exporter=lag_exporter, static_assignment=static_assignment
        )
    except PortInUse as exc:
        raise UserError(str(exc), ExitCode.USAGE) from exc
    ports = ", ".join(f"{name} :{port}" for name, port in stack.metrics_ports.items())
    out.print(f"metrics: {ports} (http://127.0.0.1:PORT/metrics)")


def _crashed(stack: Stack) -> str | None:
    """Why a consumer died, if one did (ingest exits by itself in one-shot runs)."""
    for name, process in stack.services.items():
        if process.stage != "ingest" and not process.running():
            reason = last_error(process.log_path) or "no error logged"
            return f"{name} exited with {process.process.returncode} ({reason}); see {process.log_path}"
    return None


def _requeue_lost(stack: Stack, reader: StoreReader) -> int:
    """The embedded broker keeps messages in memory only: events that were in flight when the last
    session stopped are gone with it. Make their object versions new again so ingest republishes
    them (downstream writes are idempotent, so anything that did arrive is not doubled)."""
    if stack.broker is None:
        return 0  # a real Kafka still holds them; consumers resume from their committed offsets
    ledger_path = _ledger_path(stack.home)
    lost = arrival.unfinished_versions(ledger_path, reader)
    arrival.forget(ledger_path, lost)
    return len(lost)


def _drain(stack: Stack, reader: StoreReader, timeout_s: float) -> bool:
    """After ingest stopped: wait until everything it published is stored or dead-lettered."""
    deadline = time.monotonic() + timeout_s
    ledger_path = _ledger_path(stack.home)
    while time.monotonic() < deadline:
        if not arrival.unfinished_versions(ledger_path, reader):
            return True
        if _crashed(stack) or stack.broker_down() or stack.database_down():
            return False
        time.sleep(0.5)
    return False


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


# -- progress --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineProgress:
    """What the children's metrics say so far, for the progress line of `run` and `dev`."""

    files_seen: int
    published: int
    enriched: int
    stored: int
    dead_lettered: int

    def line(self) -> str:
        return (
            f"files seen {self.files_seen}, published {self.published}, enriched {self.enriched}, "
            f"stored {self.stored}, dead-lettered {self.dead_lettered}"
        )


def pipeline_progress(stack: Stack, report: dict[str, object] | None = None) -> PipelineProgress:
    """Counts scraped from the children's /metrics. A one-shot ingest exits once done, taking its
    metrics with it: its figures then come from its report."""
    totals = {"seen": 0.0, "published": 0.0, "enriched": 0.0, "stored": 0.0, "ingest_dead": 0.0, "dead": 0.0}
    for name, port in stack.metrics_ports.items():
        if name == LAG_EXPORTER:
            continue
        for (sample, labels), value in scrape(port).items():
            label = dict(labels)
            if sample == "newsflow_ingest_objects_total":
                totals["seen"] += value
            elif sample == "newsflow_messages_produced_total" and label == {
                "stage": "ingest",
                "topic": "articles.cleaned",
            }:
                totals["published"] += value
            elif sample == "newsflow_messages_processed_total" and label == {"stage": "enrich", "outcome": "ok"}:
                totals["enriched"] += value
            elif sample == "newsflow_store_rows_written_total" and label == {"table": "articles"}:
                totals["stored"] += value
            elif sample == "newsflow_dead_letters_total":
                totals["ingest_dead" if label.get("stage") == "ingest" else "dead"] += value
    if report is not None:
        totals["seen"] = float(report["objects"])  # type: ignore[arg-type]
        totals["published"] = float(len(report["article_ids"]))  # type: ignore[arg-type]
        totals["ingest_dead"] = float(len(report["dead_letter_ids"]))  # type: ignore[arg-type]
    return PipelineProgress(
        files_seen=int(totals["seen"]),
        published=int(totals["published"]),
        enriched=int(totals["enriched"]),
        stored=int(totals["stored"]),
        dead_lettered=int(totals["ingest_dead"] + totals["dead"]),
    )


class _ProgressDisplay:
    """A live bar on a terminal; elsewhere (pipes, CI logs) a plain line whenever the counts change."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._last = ""
        self._report: dict[str, object] | None = None
        self.note = ""  # what the supervisor is doing about a part that is down, shown after the counts
        self._progress: Progress | None = None
        if out.is_terminal:
            self._progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=out
            )
            self._task = self._progress.add_task("starting")

    def __enter__(self) -> _ProgressDisplay:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.update()
        if self._progress is not None:
            self._progress.stop()

    def update(self, report: dict[str, object] | None = None) -> None:
        if report is not None:
            self._report = report
        line = pipeline_progress(self._stack, self._report).line()
        if self.note:
            line = f"{line}; {self.note}"
        if line == self._last:
            return
        self._last = line
        if self._progress is not None:
            self._progress.update(self._task, description=line)
        else:
            out.print(f"[{time.strftime('%H:%M:%S')}] {line}")


# -- commands --------------------------------------------------------------------------------------

_WORKERS_HELP = "Enrich processes, one spaCy pipeline each (one consumer group sharing the partitions)."


@app.command()
def dev(
    inbox: Annotated[
        Path, typer.Option(help="Folder to watch; ./inbox is created when missing, any other folder must exist.")
    ] = Path("inbox"),
    enrich_workers: Annotated[int, typer.Option(min=1, help=_WORKERS_HELP)] = 1,
    metrics_base_port: Annotated[
        int,
        typer.Option(
            min=0,
            help="First metrics port: ingest gets it, then enrich, store and the lag exporter the next ones "
            "(0: any free ports). Printed at start and kept in NEWSFLOW_HOME/metrics-ports.json.",
        ),
    ] = DEV_METRICS_BASE_PORT,
    broker_max_memory_mb: Annotated[
        int,
        typer.Option(
            min=1,
            help="The embedded broker keeps every message in memory (Tansu honours no retention): when its "
            "resident size has grown this much since it started, dev replaces it with an empty one once what "
            "it holds is stored (at twice the size, at once), and republishes whatever had not arrived.",
        ),
    ] = 1024,
) -> None:
    """Run the whole pipeline on embedded defaults, watching a folder, until Ctrl-C."""
    folder = _inbox(inbox, create_default=inbox == Path("inbox"))
    # A service manager's stop, or the terminal closing, drains like Ctrl-C. SIGINT too, explicitly: a
    # process started in the background by a non-interactive shell inherits SIGINT ignored, and Python
    # then keeps ignoring it, so dev would sit through every Ctrl-C its parent forwards.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    with _stack(metrics_base_port) as stack:
        with _reader(stack.database_url) as reader:
            requeued = _requeue_lost(stack, reader)
        if requeued:
            out.print(f"{requeued} file(s) were in flight when the last session stopped; publishing them again")
        _start(stack, folder, enrich_workers, None, lag_exporter=True)
        out.print(f"newsflow dev: watching {folder} (broker {stack.bootstrap_servers}); logs in {stack.home / 'logs'}")
        out.print("Drop files into the inbox; Ctrl-C stops every process.")
        try:
            _supervise(stack, folder, broker_max_memory_mb * 1024 * 1024)
        except KeyboardInterrupt:
            _stop_dev(stack)


def _stop_dev(stack: Stack) -> None:
    """Ctrl-C: stop ingest, wait for what it published to be stored, stop the rest. With the broker or the
    database down nothing more can arrive: say so and stop at once (it is published again at the next start)."""
    if stack.broker_down() or stack.database_down():
        part = "the broker" if stack.broker_down() else "the database"
        out.print(f"\nstopping: {part} is down, so nothing more can be stored; stopping every process now")
        stack.kill_all()
        out.print("not everything was stored; it will be published again on the next start")
        return
    out.print("\nstopping: ingest first, then waiting for what it published to be stored...")
    if "ingest" in stack.services:
        # The broker may die under the stop (a crash just before Ctrl-C shows only a moment later).
        stack.services["ingest"].stop(abandon_if=stack.broker_down)
    try:
        with _reader(stack.database_url) as reader:
            drained = _drain(stack, reader, timeout_s=120)
    except (TransientError, OSError, RuntimeError) as exc:
        out.print(f"database unavailable ({_first_line(exc)})")
        drained = False
    if not drained:
        out.print("not everything was stored; it will be published again on the next start")
        stack.stop_all(timeout_s=5)


@dataclass
class _Restarts:
    """A child's recent failures: how long to wait before the next start, and when to give up."""

    quick_failures: int = 0
    next_start: float = 0.0


def counts_against_the_child(exit_code: int | None, ran_s: float) -> bool:
    """Whether an exit brings dev closer to giving up on a child: it failed by itself right after starting
    (a wrong setting, a dependency that is down: restarting will not help). A child killed by a signal
    (an operator, the OOM killer, a fault drill) did not fail by itself: it is restarted, never given up on."""
    killed = exit_code is not None and exit_code < 0
    return ran_s < _QUICK_FAILURE_S and not killed


def restart_delay(quick_failures: int) -> float | None:
    """Seconds before restarting a child that failed this many times in a row right after starting
    (5, 10, 20, 40...; at most 60), or None: give up, it will not get better by itself."""
    if quick_failures >= _MAX_QUICK_FAILURES:
        return None
    return min(60.0, 5.0 * 2.0 ** max(0, quick_failures - 1))


def _supervise(stack: Stack, inbox: Path, broker_max_memory: int = 0) -> None:
    """Print progress; restart a child that exits, backing off and saying why; give up on one that keeps
    failing right after its start (a wrong setting, a dependency that is down) instead of looping."""
    restarts: dict[str, _Restarts] = {}
    stopped: dict[str, ServiceProcess] = {}
    recycling = _BrokerRecycling(broker_max_memory) if broker_max_memory else None
    with _ProgressDisplay(stack) as display:
        while True:
            time.sleep(2)
            if recycling is not None and recycling.due(stack):
                stack.kill_broker()  # recycled below like a crash: nothing is lost, what was in flight is republished
            if _restart_dependencies(stack, inbox, display):
                # The services' failures while a part was down say nothing about the services.
                restarts.clear()
                stopped.clear()
                if recycling is not None:
                    recycling.ingest_paused = False  # the restart started the whole pipeline again
            display.update()
            now = time.monotonic()
            for name, process in list(stack.services.items()):
                if name == "ingest" and recycling is not None and recycling.ingest_paused:
                    continue  # stopped on purpose until the broker is replaced
                if process.running():
                    if now - process.started_at > _QUICK_FAILURE_S:
                        restarts.pop(name, None)
                    continue
                if name in stopped:
                    continue
                state = restarts.setdefault(name, _Restarts())
                code = process.stop()
                state.quick_failures += 1 if counts_against_the_child(code, now - process.started_at) else 0
                reason = last_error(process.log_path) or "no error logged"
                unreachable = code == ExitCode.UNREACHABLE
                delay = restart_delay(state.quick_failures)
                if delay is None:
                    raise UserError(
                        f"{name} failed {state.quick_failures} times in a row right after starting "
                        f"(last: exit {code}, {reason}); giving up. Log: {process.log_path}",
                        ExitCode.UNREACHABLE if unreachable else ExitCode.FAILED,
                    )
                cause = "cannot reach a dependency" if unreachable else f"exited with {code}"
                out.print(f"{name} {cause} ({reason}); restarting in {delay:.0f}s")
                state.next_start = now + delay
                stopped[name] = process
            for name, process in list(stopped.items()):
                if now >= restarts[name].next_start:
                    del stopped[name]
                    del stack.services[name]
                    stack.start_service(process.stage, None if process.stage == LAG_EXPORTER else inbox, name=name)


def _restart_dependencies(stack: Stack, inbox: Path, display: _ProgressDisplay) -> bool:
    """Restart the embedded database or broker if it died; True when something was restarted.

    The database first: republishing after a broker restart needs it. A dead broker took every event in
    flight with it (memory storage), and the services' clients hold connections and offsets into it, so the
    services are killed, the broker started again on its port, the object versions whose events never
    reached Postgres made new in ingest's ledger, and the services started again."""
    restarted = False
    if stack.database_down():
        if not display.note.startswith("database"):
            out.print("database unavailable (embedded Postgres is not answering); restarting it")
        display.note = "database unavailable, restarting"
        display.update()
        try:
            assert stack.postgres is not None
            stack.postgres.restart()
        except Exception as exc:  # any failure to start is retried on the next round
            out.print(f"database restart failed ({_first_line(exc)}); trying again")
            return True
        if stack.postgres.running():
            display.note = ""
            out.print("database restarted")
        restarted = True
    if stack.broker_down():
        assert stack.broker is not None
        code = stack.broker.exit_code()
        display.note = "broker down, restarting"
        display.update()
        out.print(f"broker exited with {code}; restarting it and the services (what it held is published again)")
        stack.kill_all()
        stack.broker.restart()
        try:
            with _reader(stack.database_url) as reader:
                requeued = _requeue_lost(stack, reader)
        except (TransientError, OSError, RuntimeError) as exc:
            # Not lost: _requeue_lost runs again at the next start of dev, from the same ledger.
            out.print(f"database unavailable ({_first_line(exc)}); in-flight files are republished at the next start")
            requeued = 0
        stack.start_pipeline(inbox, _enrich_workers(stack), None, lag_exporter=LAG_EXPORTER in stack.metrics_ports)
        display.note = ""
        out.print(f"broker restarted on {stack.bootstrap_servers}; {requeued} file(s) published again")
        restarted = True
    return restarted


# In-flight object versions that have not moved for this long are stuck (refused without a trace the ledger
# can match), not in flight: they do not hold back replacing a full broker.
_STUCK_S = 20.0


class RecycleStep(StrEnum):
    WAIT = "wait"
    PAUSE_INGEST = "pause ingest"
    REPLACE = "replace"


def recycle_step(held: int, limit: int, in_flight: int, unmoved_s: float, ingest_paused: bool) -> RecycleStep:
    """What to do about a broker that has grown ``held`` bytes, with ``in_flight`` object versions not yet
    stored that have not moved (their count has not dropped) for ``unmoved_s`` seconds."""
    if held <= limit:
        return RecycleStep.WAIT
    if held > 2 * limit or not in_flight or unmoved_s > _STUCK_S:
        return RecycleStep.REPLACE
    return RecycleStep.WAIT if ingest_paused else RecycleStep.PAUSE_INGEST


@dataclass
class _BrokerRecycling:
    """Bounds the embedded broker's memory (Tansu keeps every message and honours neither retention nor
    DeleteRecords). Past ``limit`` bytes of growth, ingest is stopped so that nothing new enters; once what
    is in flight has been stored, the broker is replaced with an empty one (the lossless crash path: what is
    unfinished is republished from the ledger) and the pipeline, ingest included, starts again on it. Past
    twice the limit it is replaced at once, in flight or not. A burst thus runs in bounded slices instead of
    growing the broker by every message it carries (`recycle_step` decides)."""

    limit: int
    ingest_paused: bool = False
    _in_flight: int | None = None  # versions in flight at the last look, and since when that did not drop
    _unmoved_since: float = 0.0

    def due(self, stack: Stack) -> bool:
        """True: replace the broker now (the caller kills it; the supervisor restarts it and the pipeline)."""
        held = stack.broker.held_bytes() if stack.broker is not None else None
        if held is None or held <= self.limit:
            return False
        in_flight = self._in_flight or 0
        if held <= 2 * self.limit:
            try:
                with _reader(stack.database_url) as reader:
                    in_flight = len(arrival.unfinished_versions(_ledger_path(stack.home), reader))
            except (TransientError, OSError, RuntimeError):
                return False
        now = time.monotonic()
        if self._in_flight is None or in_flight < self._in_flight:
            self._unmoved_since = now
        self._in_flight = in_flight
        step = recycle_step(held, self.limit, in_flight, now - self._unmoved_since, self.ingest_paused)
        if step is RecycleStep.PAUSE_INGEST and "ingest" in stack.services:
            out.print(
                f"broker holds {held // 2**20} MB; ingest paused until the {in_flight} file(s) in flight are "
                "stored, then the broker is replaced with an empty one"
            )
            stack.services["ingest"].stop(abandon_if=stack.broker_down)
            self.ingest_paused = True
        if step is not RecycleStep.REPLACE:
            return False
        if held > 2 * self.limit:
            out.print(f"broker holds {held // 2**20} MB, over twice the limit; replacing it now")
        elif in_flight:
            out.print(
                f"broker holds {held // 2**20} MB and {in_flight} file(s) in flight have not moved for "
                f"{_STUCK_S:.0f}s; replacing it"
            )
        else:
            out.print(f"broker holds {held // 2**20} MB and nothing is in flight; replacing it with an empty one")
        # The restart after the replacement starts every service again, ingest included.
        self.ingest_paused = False
        self._in_flight = None
        return True


def _enrich_workers(stack: Stack) -> int:
    return sum(1 for name in stack.metrics_ports if name.startswith("enrich"))


@app.command()
def run(
    inbox: Annotated[Path, typer.Option(help="Folder whose files are processed (it must exist).")],
    until_idle: Annotated[
        bool, typer.Option(help="Stop once every file present is stored or dead-lettered (always the case).")
    ] = True,
    enrich_workers: Annotated[
        int | None,
        typer.Option(min=1, help=_WORKERS_HELP + " Default: one per core (at most 4); one for fewer than 32 files."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the last file to be stored.")] = 900.0,
    metrics_base_port: Annotated[
        int,
        typer.Option(min=0, help="First metrics port (ingest, enrich, store in that order); 0: any free ports."),
    ] = 0,
) -> None:
    """One-shot: every file of a folder through all stages, then a summary that accounts for each file."""
    if not until_idle:
        raise UserError(
            "newsflow run always stops when idle; for a long-running pipeline use `newsflow dev`", ExitCode.USAGE
        )
    folder = _inbox(inbox, create_default=False)
    # Stopped from outside: stop the children and the embedded Postgres instead of leaving them running.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    started = time.monotonic()
    with _stack(metrics_base_port) as stack:
        with _reader(stack.database_url):
            pass  # migrations before the store starts, so a database problem is reported here, once
        report_path = stack.home / "last-ingest-report.json"
        report_path.unlink(missing_ok=True)
        _start(
            stack,
            folder,
            enrich_workers or enrich_workers_for(folder),
            ["--until-idle", "--report", str(report_path)],
            lag_exporter=False,
            # The embedded broker serves this run alone: its consumers need no group to join.
            static_assignment=stack.broker is not None,
        )
        ingest = stack.services["ingest"]
        with _ProgressDisplay(stack) as display:
            while ingest.running():
                if (why := _crashed(stack)) is not None:
                    raise UserError(why, ExitCode.FAILED)
                display.update()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    ingest.process.wait(0.5)  # returns as soon as ingest exits
            if ingest.process.returncode != 0 or not report_path.exists():
                reason = last_error(ingest.log_path) or "no error logged"
                code = ExitCode.UNREACHABLE if ingest.process.returncode == ExitCode.UNREACHABLE else ExitCode.FAILED
                raise UserError(
                    f"ingest failed (exit {ingest.process.returncode}: {reason}); see {ingest.log_path}", code
                )
            report = json.loads(report_path.read_text())
            display.update(report)

            def between_checks() -> None:
                if (why := _crashed(stack)) is not None:
                    raise UserError(why, ExitCode.FAILED)
                display.update()

            with _reader(stack.database_url) as reader:
                try:
                    arrived = arrival.wait_for_arrival(
                        reader,
                        report["article_ids"],
                        report["dead_letter_ids"],
                        timeout_s=timeout,
                        on_wait=between_checks,
                    )
                except arrival.ArrivalTimeout as exc:
                    raise UserError(
                        f"gave up: {exc.waiting} events not stored after {timeout}s", ExitCode.FAILED
                    ) from exc
        stack.stop_drained()
        _print_summary(report, arrived, time.monotonic() - started)


def _print_summary(report: dict[str, object], arrived: arrival.Arrival, elapsed_s: float) -> None:
    outcomes: dict[str, int] = report.get("outcomes", {})  # type: ignore[assignment]
    reasons: dict[str, int] = report["dead_letter_reasons"]  # type: ignore[assignment]
    out.print(
        f"files: {report['objects']} new ({outcomes.get('ok', 0)} with articles, "
        f"{outcomes.get('dead_letter', 0)} refused whole, {report.get('exact_duplicates', 0)} rewritten "
        f"with unchanged content); {report.get('already_handled', 0)} already handled by an earlier run"
    )
    out.print(
        f"stored: {len(arrived.stored)} articles ({report.get('near_duplicates', 0)} marked as near duplicates "
        "of an earlier article)"
    )
    out.print(f"dead-lettered at enrich/store: {len(arrived.refused)}")
    out.print(
        f"dead-lettered at ingest: {arrived.expected_dead_letters}"
        + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) + ")" if reasons else "")
    )
    out.print(f"time: {elapsed_s:.1f}s")


@app.command()
def export(
    format: Annotated[
        str, typer.Option("--format", help="Output format: jsonl, one enriched article a line.")
    ] = "jsonl",
    since: Annotated[
        str | None,
        typer.Option(help="Only articles stored (or re-stored) since an ISO date/time or an age (30m, 6h, 2d)."),
    ] = None,
) -> None:
    """Print every stored article as enriched-article JSON lines, in article_id order."""
    if format != "jsonl":
        raise UserError(f"unknown format {format!r}: only jsonl", ExitCode.USAGE)
    stored_since = _since(since)
    with _existing_reader() as reader:
        for article in reader.iter_articles(stored_since):
            sys.stdout.write(article.model_dump_json() + "\n")
        sys.stdout.flush()


@app.command()
def deadletters(
    stage: Annotated[Stage | None, typer.Option(help="Only this stage's dead letters.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason code (e.g. binary, malformed_json).")] = None,
    limit: Annotated[int, typer.Option(min=0, help="How many of the newest to show in full.")] = 20,
    state: Annotated[
        RedriveState | None, typer.Option(help="Only dead letters still open, or only those redriven.")
    ] = None,
) -> None:
    """What was refused, counted by stage, reason and redrive state, then the newest in full (error, source,
    quarantine copy, where it was redriven to)."""
    from services.redrive import describe

    with _existing_reader() as reader:
        counts = reader.dead_letter_counts()
        letters = reader.recent_dead_letters(
            stage.value if stage else None, reason, limit, state.value if state else None
        )
    out.print(f"{'stage':<8} {'reason':<24} {'state':<9} count")
    for count in counts:
        out.print(f"{count.stage:<8} {count.reason:<24} {count.state:<9} {count.count}")
    if letters:
        out.print(f"\nnewest {len(letters)}:")
    for stored in letters:
        letter = stored.dead_letter
        out.print(
            f"{letter.occurred_at:%Y-%m-%d %H:%M:%S} {letter.stage.value:<7} {letter.reason.value:<22}"
            f" {stored.state:<8} {describe(letter)}"
        )
        out.print(f"    {letter.error}" + (f"\n    kept at {letter.quarantine_uri}" if letter.quarantine_uri else ""))
        if stored.redriven_to and stored.redriven_at:
            out.print(f"    redriven {stored.redriven_at:%Y-%m-%d %H:%M:%S} to {stored.redriven_to}")


@app.command()
def redrive(
    stage: Annotated[Stage | None, typer.Option(help="Only this stage's dead letters.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason code (e.g. not_an_article).")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only dead letters since an ISO date/time or an age (30m, 6h, 2d).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be redriven; publish nothing.")] = False,
) -> None:
    """Republish open dead letters whose cause is fixed (ingest: the quarantine copy extracted again; enrich and
    store: the original payload), then mark them redriven. Needs KAFKA_BOOTSTRAP_SERVERS unless --dry-run."""
    from services.redrive import RedriveFilter
    from services.redrive import redrive as redrive_dead_letters

    if reason is not None and reason not in {r.value for r in DeadLetterReason}:
        known = ", ".join(r.value for r in DeadLetterReason)
        raise UserError(f"unknown --reason {reason!r}; one of: {known}", ExitCode.USAGE)
    choose = RedriveFilter(stage, reason, _since(since))
    if not dry_run and not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        raise UserError(
            "set KAFKA_BOOTSTRAP_SERVERS to the pipeline's broker (`newsflow dev` prints it)", ExitCode.USAGE
        )
    with _existing_repository() as repository:
        report = redrive_dead_letters(repository, IngestSettings(), choose, dry_run)
    verb = "would redrive" if report.dry_run else "redriven"
    for step in report.redriven:
        topics = sorted({e.topic for e in step.events})
        out.print(f"{verb} {step.dead_letter_id}: {len(step.events)} event(s) to {', '.join(topics)}")
    for refused in report.refused:
        out.print(f"still refused {refused.dead_letter_id}: {refused.why}")
    out.print(f"{verb} {len(report.redriven)}, still refused {len(report.refused)}")


class ReportFormat(StrEnum):
    TABLE = "table"
    JSONL = "jsonl"


def _backfill_bar(label: str) -> Progress:
    """The progress bar of a backfill on stderr (articles done of the run's selection, time left)."""
    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err, transient=True
    )


@app.command()
def reenrich(
    where_version_below: Annotated[
        str | None,
        typer.Option(help="Only articles enriched by an enricher older than this version (default: the current one)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only articles ingested since an ISO date/time or an age (30m, 6h, 2d).")
    ] = None,
    story: Annotated[str | None, typer.Option(help="Only the articles of this story_id.")] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most this many articles (the sample of --dry-run).")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Run the current enricher here on the selection; print what would change."),
    ] = False,
    rate: Annotated[float, typer.Option(min=0.1, help="Articles republished per second at most.")] = 20.0,
    report_format: Annotated[ReportFormat, typer.Option("--format", help="The --dry-run report's form.")] = (
        ReportFormat.TABLE
    ),
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve newsflow_backfill_* metrics on this port while publishing.")
    ] = None,
) -> None:
    """Bring stored articles up to the current enrichment: record the selection in Postgres, then republish each
    one's cleaned form to articles.cleaned (header newsflow-backfill-of), rate-limited. A run that was killed
    resumes when the command runs again. `newsflow reenrich-report` shows what changed."""
    from services.backfill import Selection, dry_run_current, parse_version, publish, start_or_resume
    from services.enrich import ENRICHER_VERSION
    from services.enrich.settings import EnrichSettings
    from services.store.backfills import BackfillLedger

    bound = where_version_below or ENRICHER_VERSION
    try:
        parse_version(bound)
    except ValueError as exc:
        raise UserError(str(exc), ExitCode.USAGE) from exc
    selection = Selection(bound, _since(since), story, limit if limit is not None or not dry_run else 20)
    if not dry_run and not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        raise UserError(
            "set KAFKA_BOOTSTRAP_SERVERS to the pipeline's broker (`newsflow dev` prints it)", ExitCode.USAGE
        )
    with _existing_repository() as repository:
        ledger = BackfillLedger(repository)
        if dry_run:
            _print_diff(dry_run_current(ledger, selection, EnrichSettings()), report_format, "would change")
            return
        started = start_or_resume(ledger, selection, ENRICHER_VERSION)
        if started is None:
            out.print(f"nothing to re-enrich: no stored article matches (enricher version below {bound})")
            return
        run = started.run
        if started.resumed:
            out.print(
                f"resuming {run.run_id} ({run.pending} of {run.items} left; its recorded selection "
                f"{json.dumps(run.selection)} applies)"
            )
        else:
            out.print(f"started {run.run_id}: {run.items} article(s) selected")
        if metrics_port is not None:
            from prometheus_client import start_http_server

            from services.runtime.metrics import backfill_registry

            start_http_server(metrics_port, registry=backfill_registry())
        with _backfill_bar("republishing") as bar:
            task = bar.add_task("republishing", total=run.items)
            published = publish(
                ledger, EnrichSettings(), run, rate, lambda done, total: bar.update(task, completed=done)
            )
    out.print(
        f"{run.run_id}: republished {published} now, {run.items} in all; store replaces each as enrich "
        f"re-enriches it (`newsflow reenrich-report --run {run.run_id}`)"
    )


@app.command()
def reingest(
    since: Annotated[
        str | None, typer.Option(help="Only articles ingested since an ISO date/time or an age (30m, 6h, 2d).")
    ] = None,
    story: Annotated[str | None, typer.Option(help="Only the articles of this story_id.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many articles.")] = None,
    rate: Annotated[float, typer.Option(min=0.1, help="Articles republished per second at most.")] = 20.0,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Extract the selection again here; print what would change (no enrichment)."),
    ] = False,
    report_format: Annotated[ReportFormat, typer.Option("--format", help="The --dry-run report's form.")] = (
        ReportFormat.TABLE
    ),
) -> None:
    """Extract stored articles again with today's cleaner, from the object version recorded with each (its
    quarantine copy or the bucket object, if its SHA-256 still matches), and republish them to articles.cleaned.
    Same body: same article_id, replaced. Changed body: a new article, linked from the old one in article_links.
    Resumable like reenrich; `newsflow reenrich-report` shows what changed."""
    from services.backfill import Selection, publish, start_or_resume
    from services.enrich.settings import EnrichSettings
    from services.reingest import KIND, preparer
    from services.reingest import dry_run as reingest_dry_run
    from services.store.backfills import BackfillLedger

    if dry_run:
        with _existing_repository() as repository:
            sample = Selection(None, _since(since), story, limit or 20)
            report = reingest_dry_run(BackfillLedger(repository), sample, preparer(IngestSettings()))
        _print_diff(report, report_format, "would change")
        return
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        raise UserError(
            "set KAFKA_BOOTSTRAP_SERVERS to the pipeline's broker (`newsflow dev` prints it)", ExitCode.USAGE
        )
    selection = Selection(None, _since(since), story, limit)
    with _existing_repository() as repository:
        ledger = BackfillLedger(repository)
        started = start_or_resume(ledger, selection, f"newsflow {package_version('newsflow')}", kind=KIND)
        if started is None:
            out.print("nothing to re-ingest: no stored article matches")
            return
        run = started.run
        verb = "resuming" if started.resumed else "started"
        out.print(f"{verb} {run.run_id}: {run.pending} of {run.items} article(s) to extract again")
        with _backfill_bar("re-ingesting") as bar:
            task = bar.add_task("re-ingesting", total=run.items)
            published = publish(
                ledger,
                EnrichSettings(),
                run,
                rate,
                lambda done, total: bar.update(task, completed=done),
                preparer(IngestSettings()),
            )
        outcomes = ledger.outcomes(run.run_id)
    counted = ", ".join(f"{name} {n}" for name, n in sorted(outcomes.items()))
    out.print(f"{run.run_id}: republished {published} now; {counted}")


@app.command("reenrich-report")
def reenrich_report(
    run_id: Annotated[str | None, typer.Option("--run", help="The backfill run (default: the newest).")] = None,
    report_format: Annotated[ReportFormat, typer.Option("--format", help="Table or JSON lines.")] = (
        ReportFormat.TABLE
    ),
) -> None:
    """What a backfill changed, per article and field, from Postgres: the event recorded when the run selected
    each article against the one stored now. Articles not re-enriched yet are counted as pending."""
    from services.backfill import run_report
    from services.store.backfills import BackfillLedger

    with _existing_repository() as repository:
        ledger = BackfillLedger(repository)
        run = ledger.run(run_id)
        if run is None:
            raise UserError(
                "no backfill run " + (repr(run_id) if run_id else "recorded yet") + " (`newsflow reenrich` starts one)",
                ExitCode.FAILED,
            )
        report = run_report(ledger, run.run_id)
    if report_format is ReportFormat.TABLE:
        state = "published" if run.published_at else f"publishing ({run.pending} left)"
        out.print(f"{run.run_id}: {run.items} article(s), {state}, target enricher {run.target_version}")
    _print_diff(report, report_format, "changed")


def _print_diff(report: DiffReport, report_format: ReportFormat, verb: str) -> None:
    if report_format is ReportFormat.JSONL:
        # Written as they are: rich would read ":name:" in a quote as an emoji code.
        for change in report.changes:
            before, after = report.versions.get(change.article_id, ("", ""))
            record = {**change.as_record(), "from_version": before, "to_version": after}
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        for merge in report.merges:
            sys.stdout.write(json.dumps(merge.as_record(), ensure_ascii=False) + "\n")
        for article_id in report.pending:
            sys.stdout.write(json.dumps({"article_id": article_id, "field": None, "pending": True}) + "\n")
        for skipped in report.skipped:
            sys.stdout.write(json.dumps(skipped.as_record(), ensure_ascii=False) + "\n")
        return
    table = Table("article", "field", "added", "removed", "changed")
    # Text cells: "Ann Lee [PERSON]" or a quote's brackets are content, not rich markup.
    for change in report.changes:
        table.add_row(
            Text(change.article_id),
            Text(change.field),
            Text("\n".join(change.added)),
            Text("\n".join(change.removed)),
            Text("\n".join(change.changed)),
        )
    for merge in report.merges:
        table.add_row(
            Text(", ".join(merge.article_ids)),
            Text("story merge"),
            "",
            "",
            Text(f"{', '.join(merge.merged)} -> {merge.story_id}"),
        )
    (out if out.is_terminal else Console(highlight=False, width=200)).print(table)
    out.print(
        f"{report.articles} article(s) compared, {report.changed_articles} {verb}, "
        f"{len(report.merges)} story merge(s), {len(report.pending)} pending"
        + "".join(f"; skipped {s.article_id}: {s.outcome} ({s.detail})" for s in report.skipped)
    )


@app.command()
def status() -> None:
    """One view of a running `newsflow dev`: each service's metrics port, whether it answers, what it did."""
    ports_file = _home() / "metrics-ports.json"
    if not ports_file.exists():
        raise UserError(f"no running newsflow dev under {_home()} ({ports_file} is missing)", ExitCode.FAILED)
    ports: dict[str, int] = json.loads(ports_file.read_text())
    table = Table("service", "port", "up", "processed ok", "dead letters", "in flight", "last batch", "lag")
    lag: dict[str, float] = {}
    down = 0
    scraped = {name: scrape(port) for name, port in ports.items()}
    for (sample, labels), value in scraped.get(LAG_EXPORTER, {}).items():
        if sample == "newsflow_consumer_lag":
            stage = dict(labels)["stage"]
            lag[stage] = lag.get(stage, 0) + value
    for name, port in ports.items():
        samples = scraped[name]
        if not samples:
            down += 1
            table.add_row(name, str(port), "no", "", "", "", "", "")
            continue
        if name == LAG_EXPORTER:
            table.add_row(name, str(port), "yes", "", "", "", "", f"{sum(lag.values()):.0f} total")
            continue

        stage = name.split("-")[0]
        last = _total(samples, "newsflow_last_batch_timestamp_seconds")
        table.add_row(
            name,
            str(port),
            "yes",
            f"{_total(samples, 'newsflow_messages_processed_total', outcome='ok'):.0f}",
            f"{_total(samples, 'newsflow_dead_letters_total'):.0f}",
            f"{_total(samples, 'newsflow_in_flight'):.0f}",
            f"{time.time() - last:.0f}s ago" if last else "",
            f"{lag[stage]:.0f}" if stage in lag else "",
        )
    # Piped or logged: wide enough that no cell wraps (rich assumes 80 columns off a terminal).
    (out if out.is_terminal else Console(highlight=False, width=200)).print(table)
    if down:
        raise typer.Exit(ExitCode.FAILED)


def _total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], metric: str, **match: str) -> float:
    return sum(v for (s, labels), v in samples.items() if s == metric and match.items() <= dict(labels).items())


@app.command()
def schema(
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder to write to (default: services/contracts/schemas).")
    ] = None,
    check: Annotated[
        bool, typer.Option(help="Fail if the models broke compatibility with the committed schemas.")
    ] = False,
) -> None:
    """Write (or check) the JSON Schemas and the AsyncAPI document of the topic contracts."""
    if check:
        problems = check_schemas(out_dir) + check_asyncapi(out_dir)
        for problem in problems:
            err.print(problem)
        if problems:
            raise typer.Exit(ExitCode.FAILED)
        return
    for path in [*write_schemas(out_dir), write_asyncapi(out_dir)]:
        out.print(str(path))


@db_app.command()
def upgrade() -> None:
    """Apply the Postgres migrations that have not run yet."""
    with local_database(_home()) as (url, _), Repository(url) as repository:
        applied = repository.migrate()
    out.print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))


@app.command()
def ingest(
    until_idle: Annotated[bool, typer.Option(help="Exit once every object present is handled.")] = False,
    report: Annotated[Path | None, typer.Option(help="Write the ids published in this run to this JSON file.")] = None,
) -> None:
    """Run the ingest service (what deployments run): bucket or folder -> articles.cleaned."""
    from services.ingest.__main__ import main as ingest_main

    ingest_main([*(["--until-idle"] if until_idle else []), *(["--report", str(report)] if report else [])])


@app.command()
def enrich() -> None:
    """Run the enrich service (what deployments run): articles.cleaned -> articles.enriched."""
    from services.enrich.__main__ import main as enrich_main

    enrich_main()


@app.command()
def store() -> None:
    """Run the store service (what deployments run): articles.enriched and dead letters -> Postgres."""
    from services.store.__main__ import main as store_main

    store_main()


@app.command("lag-exporter")
def lag_exporter() -> None:
    """Serve consumer-group lag read from the broker (newsflow_consumer_lag) on METRICS_PORT."""
    from services.contracts import Topics
    from services.enrich.settings import EnrichSettings
    from services.runtime.lag import LagExporterSettings, WatchedGroup, run_lag_exporter
    from services.store.settings import StoreSettings

    groups = [
        WatchedGroup(Stage.ENRICH, EnrichSettings().enrich_group_id, (Topics.CLEANED.value,)),
        WatchedGroup(Stage.STORE, StoreSettings().store_group_id, (Topics.ENRICHED.value, Topics.DEADLETTER.value)),
    ]
    run_lag_exporter(LagExporterSettings(), groups)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def main(argv: list[str] | None = None) -> None:
    try:
        # Standalone: typer prints usage errors, --help and --version itself, and ends a broken pipe
        # (`newsflow export | head -1`) quietly with exit 1.
        app(args=argv, prog_name="newsflow")
    except (UserError, TransientError, ConfigurationError) as exc:
        if _options.debug:
            raise
        code = (
            exc.code
            if isinstance(exc, UserError)
            else ExitCode.USAGE
            if isinstance(exc, ConfigurationError)
            else ExitCode.UNREACHABLE
        )
        err.print(f"newsflow: {_first_line(exc)}")
        sys.exit(code)


if __name__ == "__main__":
    main()
