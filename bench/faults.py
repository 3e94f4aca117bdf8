"""Faults on a running `newsflow dev`, repeated: lost, duplicated, time to recover, peak RSS per process.

    .venv/bin/python bench/faults.py --files 1000 --repeats 10 --burst 20000     # the full run (hours here)
    .venv/bin/python bench/faults.py --files 30 --repeats 2 --burst 300          # a small one

For each fault (SIGKILL of ingest, enrich, store; a Postgres crash; a broker crash) and each repeat: drop
``--files`` new articles, inject the fault while they flow, wait until every file dropped so far is stored;
lost = files never stored (after ``--timeout``), duplicated = files stored more than once, recovery = from the
fault to the last file stored. Then a burst of ``--burst`` files. A sampler reads the RSS of every child of
dev (and the embedded Postgres) twice a second. Writes bench/results/faults.md (or ``--out``).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "ingest"
SOURCES = [
    # Texts whose first paragraph the cleaner keeps: the sentence that makes each file its own article goes there.
    "science_prize_related.txt",
    "grain_deal_agencies.txt",
    "rail_merger_noblank.txt",
]
FAULTS = ["sigkill ingest", "sigkill enrich", "sigkill store", "postgres crash", "broker crash"]


@dataclass
class Round:
    fault: str
    files: int
    lost: int
    duplicated: int
    recovery_s: float
    stored_at_fault: int  # of this round's files: how far the round was when the fault hit


@dataclass
class Bench:
    cwd: Path
    process: subprocess.Popen[str]
    dropped: list[str] = field(default_factory=list)
    peak_rss: dict[str, int] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    # (monotonic time, process name, RSS bytes) of every sample: whether RSS stays flat over the burst.
    samples: list[tuple[float, str, int]] = field(default_factory=list)

    def url(self) -> str:
        socket_dir = (self.cwd / ".newsflow" / "pgdata" / "postmaster.pid").read_text().splitlines()[4]
        return f"postgresql://postgres@/newsflow?host={socket_dir}"

    def stored(self) -> dict[str, int]:
        try:
            with psycopg.connect(self.url(), connect_timeout=3) as conn:
                rows = conn.execute("SELECT event->'source'->>'uri', count(*) FROM articles GROUP BY 1").fetchall()
        except (psycopg.Error, OSError, IndexError):
            return {}
        return {str(uri): int(n) for uri, n in rows}

    def drop(self, count: int) -> None:
        inbox = self.cwd / "inbox"
        for _ in range(count):
            n = len(self.dropped)
            title, _, body = (FIXTURES / SOURCES[n % len(SOURCES)]).read_text().partition("\n\n")
            temporary = inbox / f".f{n}.tmp"
            temporary.write_text(f"{title}\n\nThe fault bench filed this as report number {n}. {body}")
            path = inbox / f"f{n:06d}.txt"
            temporary.rename(path)
            self.dropped.append(str(path))

    def child(self, match: str) -> psutil.Process | None:
        for child in psutil.Process(self.process.pid).children():
            try:
                if match in " ".join(child.cmdline()):
                    return child
            except psutil.Error:
                continue
        return None

    def sample(self, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            processes: list[tuple[str, psutil.Process]] = []
            try:
                for child in psutil.Process(self.process.pid).children():
                    command = " ".join(child.cmdline())
                    name = "broker" if "tansu" in command else Path(command.split("-m ")[-1].split()[0]).name
                    processes.append((name, child))
                pid_file = self.cwd / ".newsflow" / "pgdata" / "postmaster.pid"
                if pid_file.exists():
                    processes.append(("postgres", psutil.Process(int(pid_file.read_text().split()[0]))))
            except (psutil.Error, OSError, ValueError, IndexError):
                continue
            for name, process in processes:
                try:
                    rss = process.memory_info().rss
                except psutil.Error:
                    continue
                self.peak_rss[name] = max(self.peak_rss.get(name, 0), rss)
                self.samples.append((time.monotonic(), name, rss))

    def wait_all(self, timeout_s: float) -> tuple[int, int, float]:
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            stored = self.stored()
            if all(uri in stored for uri in self.dropped):
                break
            time.sleep(0.5)
        stored = self.stored()
        lost = sum(1 for uri in self.dropped if uri not in stored)
        duplicated = sum(1 for uri in self.dropped if stored.get(uri, 0) > 1)
        return lost, duplicated, time.monotonic() - started


def inject(bench: Bench, fault: str) -> None:
    if fault.startswith("sigkill"):
        child = bench.child(f"services.{fault.split()[1]}")
        if child is not None:
            child.kill()
    elif fault == "postgres crash":
        pid_file = bench.cwd / ".newsflow" / "pgdata" / "postmaster.pid"
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
    elif fault == "broker crash":
        child = bench.child("tansu")
        if child is not None:
            child.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--burst", type=int, default=20000)
    parser.add_argument("--fault-delay", type=float, default=1.5, help="Seconds from the drop to the fault.")
    parser.add_argument("--timeout", type=float, default=1800.0, help="Seconds to wait for one round to be stored.")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "faults.md")
    parser.add_argument("--machine", default="", help="What else ran on the machine, for the report.")
    parser.add_argument(
        "--broker-max-memory-mb",
        type=int,
        default=0,
        help="Passed to dev (0: dev's default). A small limit makes dev replace the broker during the burst.",
    )
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "NEWSFLOW_HOME")}
    env.update(KAFKA_POLL_TIMEOUT_MS="200", INGEST_SETTLE_SECONDS="0.3", INGEST_SCAN_INTERVAL_SECONDS="1")
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="newsflow-faults-bench-") as folder:
        cwd = Path(folder)
        command = [sys.executable, "-m", "services.cli", "dev", "--metrics-base-port", "0"]
        if args.broker_max_memory_mb:
            command += ["--broker-max-memory-mb", str(args.broker_max_memory_mb)]
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        bench = Bench(cwd, process)
        threading.Thread(target=lambda: bench.lines.extend(process.stdout or []), daemon=True).start()
        stop = threading.Event()
        threading.Thread(target=bench.sample, args=(stop,), daemon=True).start()
        try:
            while not any("Drop files" in line for line in bench.lines):
                time.sleep(0.5)
            for fault in FAULTS:
                for _ in range(args.repeats):
                    before = len(bench.dropped)
                    bench.drop(args.files)
                    time.sleep(args.fault_delay)  # listed and flowing, not stored yet
                    stored_now = bench.stored()
                    stored_at_fault = sum(1 for uri in bench.dropped[before:] if uri in stored_now)
                    inject(bench, fault)
                    lost, duplicated, recovery = bench.wait_all(args.timeout)
                    rounds.append(Round(fault, args.files, lost, duplicated, recovery, stored_at_fault))
                    print(rounds[-1], flush=True)
            burst_started = time.monotonic()
            bench.drop(args.burst)
            lost, duplicated, _ = bench.wait_all(args.timeout)
            burst_s = time.monotonic() - burst_started
            burst_rss = rss_over(bench.samples, burst_started, burst_started + burst_s)
            print(f"burst {args.burst}: lost {lost}, duplicated {duplicated}, {burst_s:.0f}s", flush=True)
        finally:
            stop.set()
            process.send_signal(signal.SIGINT)
            try:
                process.wait(180)
            except subprocess.TimeoutExpired:
                process.kill()
    write(args, rounds, (args.burst, lost, duplicated, burst_s), bench.peak_rss, burst_rss, bench.lines)


def rss_over(samples: list[tuple[float, str, int]], start: float, end: float) -> dict[str, tuple[int, int]]:
    """Per process, the median RSS over the first and over the last fifth of [start, end]: flat memory
    has the two close; a leak grows the second with the burst's size."""
    fifth = (end - start) / 5
    out: dict[str, tuple[int, int]] = {}
    for name in sorted({n for _, n, _ in samples}):
        first = sorted(r for t, n, r in samples if n == name and start <= t <= start + fifth)
        last = sorted(r for t, n, r in samples if n == name and end - fifth <= t <= end)
        if first and last:
            out[name] = (first[len(first) // 2], last[len(last) // 2])
    return out


def write(
    args: argparse.Namespace,
    rounds: list[Round],
    burst: tuple[int, int, int, float],
    peak_rss: dict[str, int],
    burst_rss: dict[str, tuple[int, int]],
    lines: list[str],
) -> None:
    said = [line for line in lines if "broker" in line or "database" in line]
    out = [
        "# Faults on a running `newsflow dev`",
        "",
        f"`bench/faults.py --files {args.files} --repeats {args.repeats} --burst {args.burst} --fault-delay "
        f"{args.fault_delay}"
        + (f" --broker-max-memory-mb {args.broker_max_memory_mb}" if args.broker_max_memory_mb else "")
        + f"`; {os.cpu_count()} cores. {args.machine}",
        "",
        "Recovery: from the fault to the last file of the round stored. Stored at fault: how many of the round's",
        "files were already stored when the fault hit (the rest were listed, in flight or not read yet).",
        "",
        "| fault | rounds | files per round | stored at fault (min / max) | lost | duplicated "
        "| recovery s (median / max) |",
        "|---|---|---|---|---|---|---|",
    ]
    for fault in FAULTS:
        mine = [r for r in rounds if r.fault == fault]
        if not mine:
            continue
        times = sorted(r.recovery_s for r in mine)
        out.append(
            f"| {fault} | {len(mine)} | {args.files} | {min(r.stored_at_fault for r in mine)} / "
            f"{max(r.stored_at_fault for r in mine)} | {sum(r.lost for r in mine)} | "
            f"{sum(r.duplicated for r in mine)} | {times[len(times) // 2]:.1f} / {times[-1]:.1f} |"
        )
    count, lost, duplicated, seconds = burst
    out += [
        "",
        f"Burst of {count} files after the faults: lost {lost}, duplicated {duplicated}, {seconds:.0f} s to store all.",
        "",
        "RSS per process: peak over the whole run, and the median over the first and the last fifth of the burst.",
        "",
        "| process | peak RSS MB | burst, first fifth MB | burst, last fifth MB |",
        "|---|---|---|---|",
        *[
            f"| {name} | {rss / 2**20:.0f} | "
            + (" | ".join(f"{v / 2**20:.0f}" for v in burst_rss[name]) if name in burst_rss else "– | –")
            + " |"
            for name, rss in sorted(peak_rss.items())
        ],
        "",
        "What dev said about its parts:",
        "",
        *[f"    {line.rstrip()}" for line in said[:30]],
        *(["    ..."] if len(said) > 45 else []),
        *[f"    {line.rstrip()}" for line in said[max(30, len(said) - 15) :]],
        "",
        "Broker storage and retention (why dev keeps a memory broker and replaces it when it grows):",
        "`bench/results/broker_storage.md`.",
        "",
    ]
    args.out.write_text("\n".join(out))


if __name__ == "__main__":
    main()
