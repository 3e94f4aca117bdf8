"""End to end, start-up included: the same files through ``newsflow run`` (1 and 2 enrich workers) and
through the one-process script a user would write instead (``bench/naive_pipeline.py``), sides
alternating, each run a fresh process tree.

    .venv/bin/python bench/e2e.py FOLDER [FOLDER ...] [--repeats 3] [--workers 1,2] [--out bench/results/e2e.md]

Every folder's files are copied into one temporary inbox (outside the repository). Both sides write to
the same PostgreSQL server (``DATABASE_URL``, else an embedded one started once for the whole bench),
each run into a database of its own, so neither pays for an initdb; everything else each run starts
itself (newsflow: broker, services, migrations; the script: spaCy). Reported per run: wall seconds from
launch to exit, stored articles, docs/s, peak RSS of each process of the run's tree (sampled every
0.2 s), and the ratio naive wall / newsflow wall (above 1: newsflow is faster). The service logs of
every newsflow run are searched for Kafka client errors (``Invalid frame length``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
# What kafka-python logs when an answer exceeds its receive limit (issue 15: fetch sizes disagreeing).
KAFKA_FRAME_ERROR = "Invalid frame length"


@dataclass
class RunResult:
    side: str
    wall_s: float
    stored: int
    exit_code: int
    peak_rss_mib: dict[str, float] = field(default_factory=dict)
    log_errors: int = 0

    @property
    def docs_per_s(self) -> float:
        return self.stored / self.wall_s if self.wall_s else 0.0


def _label(process: psutil.Process) -> str:
    try:
        cmdline = " ".join(process.cmdline())
    except (psutil.Error, OSError):
        return "?"
    for stage in ("ingest", "enrich", "store"):
        if f"services.{stage}" in cmdline:
            return stage
    if "naive_pipeline" in cmdline:
        return "script"
    if "tansu" in cmdline or " broker " in f" {cmdline} ":
        return "broker"
    if "newsflow" in cmdline or "services.cli" in cmdline:
        return "cli"
    return process.name()


class _RssSampler(threading.Thread):
    """Peak RSS per process of a tree; processes with the same label (two enrich workers) are kept
    apart as label, label#2."""

    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True)
        self._root = psutil.Process(root_pid)
        self._done = threading.Event()
        self.peaks: dict[int, tuple[str, int]] = {}

    def run(self) -> None:
        while not self._done.is_set():
            try:
                tree = [self._root, *self._root.children(recursive=True)]
            except psutil.Error:
                return
            for process in tree:
                try:
                    rss = process.memory_info().rss
                except psutil.Error:
                    continue
                label, peak = self.peaks.get(process.pid, (_label(process), 0))
                self.peaks[process.pid] = (label, max(peak, rss))
            self._done.wait(0.2)

    def stop(self) -> dict[str, float]:
        self._done.set()
        self.join(2)
        named: dict[str, float] = {}
        for pid in sorted(self.peaks):
            label, peak = self.peaks[pid]
            key, n = label, 2
            while key in named:
                key, n = f"{label}#{n}", n + 1
            named[key] = round(peak / 2**20, 1)
        return named


def _timed(command: list[str], env: dict[str, str], log: Path) -> tuple[float, int, dict[str, float]]:
    started = time.monotonic()
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        sampler = _RssSampler(process.pid)
        sampler.start()
        code = process.wait()
    wall = time.monotonic() - started
    return wall, code, sampler.stop()


def _count(database_url: str, table: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


class _Databases:
    """A database per run on one server."""

    def __init__(self, admin_url: str) -> None:
        self._admin_url = admin_url

    def fresh(self) -> str:
        name = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self._admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return psycopg.conninfo.make_conninfo(self._admin_url, dbname=name)


def _run_newsflow(workers: int, inbox: Path, work: Path, databases: _Databases) -> RunResult:
    home = Path(tempfile.mkdtemp(prefix="home-", dir=work))
    url = databases.fresh()
    env = {**os.environ, "NEWSFLOW_HOME": str(home), "DATABASE_URL": url}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    command = [str(VENV_BIN / "newsflow"), "run", "--inbox", str(inbox), "--enrich-workers", str(workers)]
    wall, code, peaks = _timed(command, env, work / f"newsflow-{workers}.out")
    errors = 0
    for log in (home / "logs").glob("*.log"):
        text = log.read_text(errors="replace")
        errors += text.count(KAFKA_FRAME_ERROR)
    result = RunResult(f"newsflow {workers} worker(s)", wall, _count(url, "articles"), code, peaks, errors)
    shutil.rmtree(home, ignore_errors=True)
    return result


def _run_naive(inbox: Path, work: Path, databases: _Databases) -> RunResult:
    url = databases.fresh()
    command = [sys.executable, str(ROOT / "bench" / "naive_pipeline.py"), str(inbox), "--database-url", url]
    wall, code, peaks = _timed(command, dict(os.environ), work / "naive.out")
    return RunResult("naive script", wall, _count(url, "naive_articles"), code, peaks)


def _copy_inputs(folders: Sequence[Path], inbox: Path) -> int:
    count = 0
    for n, folder in enumerate(folders):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            target = inbox / f"{n}-{path.relative_to(folder).as_posix().replace('/', '-')}"
            shutil.copyfile(path, target)
            count += 1
    return count


def _report(results: list[RunResult], files: int, folders: Sequence[Path], note: str) -> str:
    lines = [
        "# End to end: `newsflow run` against a one-process script",
        "",
        "Command: `.venv/bin/python bench/e2e.py " + " ".join(str(f) for f in folders) + "`",
        "",
        f"Input: {files} files. Both sides write to one PostgreSQL server (a database per run); wall time is",
        "from launch to exit of the whole process tree (newsflow: embedded broker, migrations, services, drain;",
        "the script: spaCy load, extraction, INSERTs). Ratio = naive wall / newsflow wall of the same",
        "repetition (above 1: newsflow is faster).",
        "",
        note,
        "",
        "| repetition | side | wall s | stored | docs/s | ratio | exit | frame errors | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    by_rep: dict[int, list[RunResult]] = {}
    sides = list(dict.fromkeys(r.side for r in results))
    per_rep = len(sides)
    for i, result in enumerate(results):
        by_rep.setdefault(i // per_rep, []).append(result)
    ratios: dict[str, list[float]] = {}
    for rep, runs in by_rep.items():
        naive = next((r for r in runs if r.side == "naive script"), None)
        for r in runs:
            ratio = ""
            if naive is not None and r is not naive and r.wall_s:
                value = naive.wall_s / r.wall_s
                ratios.setdefault(r.side, []).append(value)
                ratio = f"{value:.2f}"
            rss = ", ".join(f"{k} {v:.0f}" for k, v in r.peak_rss_mib.items())
            lines.append(
                f"| {rep + 1} | {r.side} | {r.wall_s:.1f} | {r.stored} | {r.docs_per_s:.2f} | {ratio} | "
                f"{r.exit_code} | {r.log_errors if r.side != 'naive script' else ''} | {rss} |"
            )
    lines += ["", "| side | median wall s | median docs/s | median ratio |", "|---|---|---|---|"]
    for side in sides:
        runs = [r for r in results if r.side == side]
        ratio = f"{statistics.median(ratios[side]):.2f}" if side in ratios else ""
        lines.append(
            f"| {side} | {statistics.median(r.wall_s for r in runs):.1f} | "
            f"{statistics.median(r.docs_per_s for r in runs):.2f} | {ratio} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="enrich worker counts of the newsflow side")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "e2e.md")
    parser.add_argument("--note", default="Machine: shared, 2 cores; figures are noisy.")
    args = parser.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",") if w]
    with tempfile.TemporaryDirectory(prefix="newsflow-e2e-") as tmp:
        work = Path(tmp)
        inbox = work / "inbox"
        inbox.mkdir()
        files = _copy_inputs(args.folders, inbox)
        postgres = None
        admin_url = os.environ.get("DATABASE_URL")
        if not admin_url:
            from services.localstack import EmbeddedPostgres

            postgres = EmbeddedPostgres(work / "pgdata")
            admin_url = postgres.database_url
        databases = _Databases(admin_url)
        results: list[RunResult] = []
        try:
            for rep in range(args.repeats):
                sides: list[int | None] = [None, *workers]
                if rep % 2:
                    sides.reverse()  # alternate which side runs first in a repetition
                runs: list[RunResult] = []
                for side in sides:
                    result = (
                        _run_naive(inbox, work, databases)
                        if side is None
                        else _run_newsflow(side, inbox, work, databases)
                    )
                    print(f"rep {rep + 1} {result.side}: {result.wall_s:.1f}s, {result.stored} stored", flush=True)
                    runs.append(result)
                # Report in a fixed side order whatever order they ran in.
                runs.sort(key=lambda r: (r.side != "naive script", r.side))
                results.extend(runs)
        finally:
            if postgres is not None:
                postgres.stop()
    report = _report(results, files, args.folders, args.note)
    args.out.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
