"""``newsflow``: the command line, and the composition root of the local stack.

  newsflow dev                          the whole pipeline on embedded defaults, watching ./inbox
  newsflow run --inbox DIR --until-idle one-shot: every file through all stages, then a summary
  newsflow export --format jsonl [--since T]  stored articles as enriched-article JSON lines
  newsflow redrive [--stage S] [--reason R] [--since T] [--dry-run]
                                        republish dead letters whose cause is fixed
  newsflow schema [--check]             write (or check) the JSON Schemas and AsyncAPI file of the topics
  newsflow db upgrade                   apply Postgres migrations
  newsflow ingest|enrich|store          run one service (what deployments run)

The broker and the database are embedded unless ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` are
set. Embedded state lives under ``NEWSFLOW_HOME`` (default ``./.newsflow``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from services.contracts.asyncapi import check_asyncapi, write_asyncapi
from services.contracts.schemas import check_schemas, write_schemas
from services.ingest.ledger import DoneVersion, Ledger
from services.localstack import EmbeddedBroker, EmbeddedPostgres, ServiceProcess
from services.store.repository import Repository


@dataclass
class Stack:
    home: Path
    bootstrap_servers: str
    database_url: str
    broker: EmbeddedBroker | None = None
    postgres: EmbeddedPostgres | None = None
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def env(self, inbox: Path | None = None) -> dict[str, str]:
        env = {
            "NEWSFLOW_HOME": str(self.home),
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "DATABASE_URL": self.database_url,
        }
        if inbox is not None:
            env["INGEST_INBOX"] = str(inbox)
        return env

    def start_service(
        self, stage: str, inbox: Path | None, args: list[str] | None = None, name: str | None = None
    ) -> ServiceProcess:
        name = name or stage
        process = ServiceProcess(stage, self.env(inbox), self.home / "logs" / f"{name}.log", args)
        self.services[name] = process
        return process

    def start_pipeline(self, inbox: Path, enrich_workers: int, ingest_args: list[str] | None = None) -> None:
        """Consumers first, so nothing waits on a group join; enrich, the bottleneck, in N processes
        of one consumer group (partitions spread over them)."""
        self.start_service("store", inbox)
        for worker in range(1, enrich_workers + 1):
            self.start_service("enrich", inbox, name="enrich" if enrich_workers == 1 else f"enrich-{worker}")
        self.start_service("ingest", inbox, ingest_args)

    def stop_all(self) -> None:
        """Ingest first, then enrich, then store: each consumer outlives its producers."""
        order = {"ingest": 0, "enrich": 1, "store": 2}
        for name, process in sorted(self.services.items(), key=lambda item: order[item[1].stage]):
            process.stop()
            del self.services[name]


def _home() -> Path:
    return Path(os.environ.get("NEWSFLOW_HOME", ".newsflow")).resolve()


@contextmanager
def _database(home: Path) -> Iterator[tuple[str, EmbeddedPostgres | None]]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url, None
        return
    pgdata = home / "pgdata"
    was_running = (pgdata / "postmaster.pid").exists()
    postgres = EmbeddedPostgres(pgdata)
    try:
        yield postgres.database_url, postgres
    finally:
        if not was_running:
            postgres.stop()


@contextmanager
def _stack() -> Iterator[Stack]:
    home = _home()
    home.mkdir(parents=True, exist_ok=True)
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = EmbeddedBroker(home / "logs" / "broker.log")
        bootstrap = broker.bootstrap_servers
    try:
        with _database(home) as (url, postgres):
            stack = Stack(home, bootstrap, url, broker, postgres)
            try:
                yield stack
            finally:
                stack.stop_all()
    finally:
        if broker is not None:
            broker.kill()


def _repository(url: str) -> Repository:
    return Repository(url)


def _format_counts(counts: dict[str, int]) -> str:
    dead = {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("dead_letter:")}
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(dead.items()))
    return f"stored {counts.get('stored', 0)}, dead-lettered {sum(dead.values())}" + (
        f" ({reasons})" if reasons else ""
    )


def _unfinished_versions(stack: Stack, repository: Repository) -> list[DoneVersion]:
    """Object versions ingest recorded as published whose events have not reached Postgres yet."""
    ledger_path = stack.home / "ingest-ledger.sqlite3"
    if not ledger_path.exists():
        return []
    ledger = Ledger(ledger_path)
    try:
        done = list(ledger.done_versions())
    finally:
        ledger.close()
    article_ids = [a for v in done for a in v.article_ids]
    dead_letter_ids = [d for v in done for d in v.dead_letter_ids]
    arrived = repository.stored_article_ids(article_ids) | repository.dead_lettered_article_ids(article_ids)
    arrived |= repository.dead_letter_ids(dead_letter_ids)
    return [v for v in done if not set(v.article_ids + v.dead_letter_ids) <= arrived]


def _reconcile(stack: Stack, repository: Repository) -> int:
    """The embedded broker keeps messages in memory only: events that were in flight when the last
    session stopped are gone with it. Make their object versions new again so ingest republishes
    them (downstream writes are idempotent, so anything that did arrive is not doubled)."""
    if stack.broker is None:
        return 0  # a real Kafka still holds them; consumers resume from their committed offsets
    unfinished = _unfinished_versions(stack, repository)
    if unfinished:
        ledger = Ledger(stack.home / "ingest-ledger.sqlite3")
        try:
            for version in unfinished:
                ledger.forget(version.uri, version.version)
        finally:
            ledger.close()
    return len(unfinished)


def _drain(stack: Stack, repository: Repository, timeout_s: float) -> bool:
    """After ingest stopped: wait until everything it published is stored or dead-lettered."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _unfinished_versions(stack, repository):
            return True
        if _crashed(stack):
            return False
        time.sleep(0.5)
    return False


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_dev(args: argparse.Namespace) -> int:
    inbox = Path(args.inbox).resolve()
    inbox.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop drains like Ctrl-C
    with _stack() as stack:
        _migrate(stack.database_url)
        with _repository(stack.database_url) as repository:
            requeued = _reconcile(stack, repository)
        if requeued:
            print(f"{requeued} file(s) were in flight when the last session stopped; publishing them again")
        stack.start_pipeline(inbox, args.enrich_workers)
        print(f"newsflow dev: watching {inbox} (broker {stack.bootstrap_servers}); logs in {stack.home / 'logs'}")
        print("Drop files into the inbox; Ctrl-C stops every process.", flush=True)
        last = ""
        restarts: dict[str, float] = {}
        try:
            with _repository(stack.database_url) as repository:
                while True:
                    time.sleep(2)
                    line = _format_counts(repository.counts())
                    if line != last:
                        print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)
                        last = line
                    for name, process in list(stack.services.items()):
                        if not process.running():
                            # Crash loudly, restart: the uncommitted batch is redelivered.
                            if time.monotonic() - restarts.get(name, 0) < 5:
                                time.sleep(5)
                            print(f"{name} exited with {process.process.returncode}; restarting", flush=True)
                            restarts[name] = time.monotonic()
                            process.stop()
                            stack.start_service(process.stage, inbox, name=name)
        except KeyboardInterrupt:
            print("\nstopping: ingest first, then waiting for what it published to be stored...", flush=True)
            stack.services["ingest"].stop()
            with _repository(stack.database_url) as repository:
                if not _drain(stack, repository, timeout_s=120):
                    print("not everything was stored; it will be published again on the next start", flush=True)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    if not args.until_idle:
        print(
            "newsflow run needs --until-idle (for a long-running pipeline use `newsflow dev`)",
            file=sys.stderr,
        )
        return 2
    inbox = Path(args.inbox).resolve()
    if not inbox.is_dir():
        print(f"no such folder: {inbox}", file=sys.stderr)
        return 2
    started = time.monotonic()
    with _stack() as stack:
        _migrate(stack.database_url)
        report_path = stack.home / "last-ingest-report.json"
        report_path.unlink(missing_ok=True)
        stack.start_pipeline(inbox, args.enrich_workers, ["--until-idle", "--report", str(report_path)])
        ingest = stack.services["ingest"]
        while ingest.running():
            if _crashed(stack):
                return 1
            time.sleep(0.2)
        if ingest.process.returncode != 0 or not report_path.exists():
            print(
                f"ingest failed (exit {ingest.process.returncode}); see {stack.home / 'logs' / 'ingest.log'}",
                file=sys.stderr,
            )
            return 1
        report = json.loads(report_path.read_text())
        article_ids: list[str] = sorted(set(report["article_ids"]))
        dead_letter_ids: list[str] = sorted(set(report["dead_letter_ids"]))
        deadline = time.monotonic() + args.timeout
        with _repository(stack.database_url) as repository:
            while True:
                stored = repository.stored_article_ids(article_ids)
                refused = repository.dead_lettered_article_ids(article_ids)
                ingest_dead = repository.dead_letter_ids(dead_letter_ids)
                if len(stored | refused) == len(article_ids) and len(ingest_dead) == len(dead_letter_ids):
                    break
                if _crashed(stack):
                    return 1
                if time.monotonic() > deadline:
                    waiting = len(article_ids) - len(stored | refused) + len(dead_letter_ids) - len(ingest_dead)
                    print(f"gave up: {waiting} events not stored after {args.timeout}s", file=sys.stderr)
                    return 1
                time.sleep(0.25)
        elapsed = time.monotonic() - started
        reasons = report["dead_letter_reasons"]
        print(f"files: {report['objects']}")
        print(f"stored: {len(stored)} articles")
        print(f"dead-lettered at enrich/store: {len(refused)}")
        print(
            f"dead-lettered at ingest: {len(dead_letter_ids)}"
            + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) + ")" if reasons else "")
        )
        print(f"time: {elapsed:.1f}s")
    return 0


def _crashed(stack: Stack) -> bool:
    """Whether a consumer died (ingest exits by itself in one-shot runs)."""
    for name, process in stack.services.items():
        if process.stage != "ingest" and not process.running():
            print(
                f"{name} exited with {process.process.returncode}; see {stack.home / 'logs' / (name + '.log')}",
                file=sys.stderr,
            )
            return True
    return False


def _migrate(url: str) -> None:
    with _repository(url) as repository:
        repository.migrate()


@contextmanager
def _existing_repository() -> Iterator[Repository | None]:
    """The store's database for read commands: DATABASE_URL, or the embedded one a previous `run` or a
    running `dev` left under NEWSFLOW_HOME. None (with a message) when there is neither."""
    home = _home()
    if not os.environ.get("DATABASE_URL") and not (home / "pgdata" / "PG_VERSION").exists():
        print(f"no database under {home} and DATABASE_URL is not set", file=sys.stderr)
        yield None
        return
    with _database(home) as (url, _), _repository(url) as repository:
        repository.migrate()
        yield repository


def cmd_export(args: argparse.Namespace) -> int:
    from services.redrive import parse_since

    try:
        since = None if args.since is None else parse_since(args.since)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    with _existing_repository() as repository:
        if repository is None:
            return 1
        out = sys.stdout
        for article in repository.iter_articles(since):
            out.write(article.model_dump_json() + "\n")
        out.flush()
    return 0


def cmd_deadletters(args: argparse.Namespace) -> int:
    from services.redrive import describe

    with _existing_repository() as repository:
        if repository is None:
            return 1
        counts = repository.dead_letter_counts()
        letters = repository.recent_dead_letters(args.stage, args.reason, args.limit, args.state)
    print(f"{'stage':<8} {'reason':<24} {'state':<9} count")
    for count in counts:
        print(f"{count.stage:<8} {count.reason:<24} {count.state:<9} {count.count}")
    if letters:
        print(f"\nnewest {len(letters)}:")
    for stored in letters:
        letter = stored.dead_letter
        print(
            f"{letter.occurred_at:%Y-%m-%d %H:%M:%S} {letter.stage.value:<7} {letter.reason.value:<22}"
            f" {stored.state:<8} {describe(letter)}"
        )
        print(f"    {letter.error}" + (f"\n    kept at {letter.quarantine_uri}" if letter.quarantine_uri else ""))
        if stored.redriven_to and stored.redriven_at:
            print(f"    redriven {stored.redriven_at:%Y-%m-%d %H:%M:%S} to {stored.redriven_to}")
    return 0


def cmd_redrive(args: argparse.Namespace) -> int:
    """Thin wrapper: the logic is services/redrive.py."""
    from services.contracts import DeadLetterReason, Stage
    from services.ingest.settings import IngestSettings
    from services.redrive import RedriveFilter, parse_since, redrive

    if args.reason is not None and args.reason not in {r.value for r in DeadLetterReason}:
        print(
            f"unknown --reason {args.reason!r}; one of: {', '.join(r.value for r in DeadLetterReason)}", file=sys.stderr
        )
        return 2
    try:
        since = None if args.since is None else parse_since(args.since)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if not args.dry_run and not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        print("set KAFKA_BOOTSTRAP_SERVERS to the pipeline's broker (`newsflow dev` prints it)", file=sys.stderr)
        return 2
    choose = RedriveFilter(None if args.stage is None else Stage(args.stage), args.reason, since)
    with _existing_repository() as repository:
        if repository is None:
            return 1
        report = redrive(repository, IngestSettings(), choose, args.dry_run)
    verb = "would redrive" if report.dry_run else "redriven"
    for step in report.redriven:
        topics = sorted({e.topic for e in step.events})
        print(f"{verb} {step.dead_letter_id}: {len(step.events)} event(s) to {', '.join(topics)}")
    for refused in report.refused:
        print(f"still refused {refused.dead_letter_id}: {refused.why}")
    print(f"{verb} {len(report.redriven)}, still refused {len(report.refused)}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    folder = Path(args.out) if args.out else None
    if args.check:
        problems = check_schemas(folder) + check_asyncapi(folder)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    for path in [*write_schemas(folder), write_asyncapi(folder)]:
        print(path)
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    with _database(_home()) as (url, _), _repository(url) as repository:
        applied = repository.migrate()
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("ingest", "enrich", "store"):
        stage, rest = argv[0], argv[1:]
        if stage == "ingest":
            from services.ingest.__main__ import main as ingest_main

            ingest_main(rest)
        elif stage == "enrich":
            from services.enrich.__main__ import main as enrich_main

            enrich_main()
        else:
            from services.store.__main__ import main as store_main

            store_main()
        return

    parser = argparse.ArgumentParser(
        prog="newsflow", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="run the whole pipeline on embedded defaults")
    dev.add_argument("--inbox", default="inbox")
    dev.add_argument("--enrich-workers", type=int, default=1, help="enrich processes (one spaCy pipeline each)")
    dev.set_defaults(func=cmd_dev)
    run = sub.add_parser("run", help="one-shot: process every file of an inbox, then exit")
    run.add_argument("--inbox", required=True)
    run.add_argument("--until-idle", action="store_true")
    run.add_argument("--enrich-workers", type=int, default=1, help="enrich processes (one spaCy pipeline each)")
    run.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the last file")
    run.set_defaults(func=cmd_run)
    export = sub.add_parser("export", help="print stored articles")
    export.add_argument("--format", choices=["jsonl"], default="jsonl")
    export.add_argument("--since", help="only articles stored since an ISO date/time or an age (30m, 6h, 2d)")
    export.set_defaults(func=cmd_export)
    dead = sub.add_parser("deadletters", help="what was refused, by stage and reason, newest first")
    dead.add_argument("--stage", choices=["ingest", "enrich", "store"])
    dead.add_argument("--reason")
    dead.add_argument("--limit", type=int, default=20)
    dead.add_argument("--state", choices=["open", "redriven"])
    dead.set_defaults(func=cmd_deadletters)
    again = sub.add_parser("redrive", help="republish dead letters whose cause is fixed, mark them redriven")
    again.add_argument("--stage", choices=["ingest", "enrich", "store"])
    again.add_argument("--reason", help="only dead letters of this reason")
    again.add_argument("--since", help="only dead letters since an ISO date/time or an age (30m, 6h, 2d)")
    again.add_argument("--dry-run", action="store_true", help="say what would be redriven; publish nothing")
    again.set_defaults(func=cmd_redrive)
    schema = sub.add_parser("schema", help="write or check the topic contracts' JSON Schemas")
    schema.add_argument("--out", help="folder (default: services/contracts/schemas)")
    schema.add_argument("--check", action="store_true", help="fail if the models broke compatibility")
    schema.set_defaults(func=cmd_schema)
    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"])
    db.set_defaults(func=cmd_db)
    for stage in ("ingest", "enrich", "store"):
        sub.add_parser(stage, help=f"run the {stage} service")
    args = parser.parse_args(argv)
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()
