"""Idle latency of `newsflow dev` on its defaults: from a file appearing in the inbox (renamed in whole, as
a finished download or copy lands) to its article's row in Postgres, one file at a time with the pipeline
idle in between. Inputs: the saved articles in ../shared/seeds, read at run time, each made unique by a line
of its own (so no two files are the same article).

    .venv/bin/python bench/dev_latency.py [--files 20] [--gap 3]   -> bench/results/dev_latency.md
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "seeds"
OUT = REPO / "bench" / "results" / "dev_latency.md"


def _database_url(home: Path) -> str | None:
    pid_file = home / "pgdata" / "postmaster.pid"
    try:
        socket_dir = pid_file.read_text().splitlines()[4]
    except (OSError, IndexError):
        return None
    return f"postgresql://postgres@/newsflow?host={socket_dir}"


def _wait_for_row(url: str, uri: str, timeout_s: float) -> float | None:
    """Seconds (monotonic clock) at which a row for ``uri`` was first seen, polling every 10 ms."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT 1 FROM article_sources WHERE uri = %s LIMIT 1", (uri,)).fetchone()
            if row is not None:
                return time.monotonic()
            time.sleep(0.01)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--gap", type=float, default=3.0, help="Idle seconds between two files.")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    seeds = sorted(SEEDS.glob("*"))
    if not seeds:
        raise SystemExit(f"no saved articles in {SEEDS}")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "NEWSFLOW_HOME")}
    latencies: list[float] = []
    missing = 0
    with tempfile.TemporaryDirectory(prefix="newsflow-dev-latency-") as folder:
        cwd = Path(folder)
        inbox = cwd / "inbox"
        inbox.mkdir()
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "dev", "--metrics-base-port", "0"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True).start()
        try:
            while not any("Drop files" in line for line in lines):
                if process.poll() is not None:
                    raise SystemExit("dev exited: " + "".join(lines[-5:]))
                time.sleep(0.2)
            url = _database_url(cwd / ".newsflow")
            if url is None:
                raise SystemExit("no embedded Postgres found under .newsflow")
            time.sleep(args.gap)  # every service consuming, idle
            for n in range(args.files):
                seed = seeds[n % len(seeds)]
                data = f"Latency bench file {n}.\n\n".encode() + seed.read_bytes()
                temporary = inbox / f".lat{n}.tmp"
                temporary.write_bytes(data)
                path = inbox / f"lat{n:04d}{seed.suffix}"
                dropped_at = time.monotonic()
                temporary.rename(path)
                stored_at = _wait_for_row(url, str(path), timeout_s=60)
                if stored_at is None:
                    missing += 1
                else:
                    latencies.append(stored_at - dropped_at)
                    print(f"{path.name}: {latencies[-1]:.3f} s", flush=True)
                time.sleep(args.gap)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                process.kill()
    write(args, latencies, missing)


def write(args: argparse.Namespace, latencies: list[float], missing: int) -> None:
    ordered = sorted(latencies)

    def quantile(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    out = [
        "# `newsflow dev` idle latency: file lands in the inbox → its row in Postgres",
        "",
        f"`bench/dev_latency.py --files {args.files} --gap {args.gap}`; dev on its defaults (embedded broker and"
        f" Postgres, inotify on Linux); {os.cpu_count()} cores; one file at a time, {args.gap} s idle between files;"
        " the row is polled every 10 ms.",
        "",
        "| files stored | missing | p50 s | p90 s | min s | max s | mean s |",
        "|---|---|---|---|---|---|---|",
        f"| {len(ordered)} | {missing} | {statistics.median(ordered):.3f} | {quantile(0.9):.3f} | {ordered[0]:.3f} | "
        f"{ordered[-1]:.3f} | {statistics.fmean(ordered):.3f} |"
        if ordered
        else f"| 0 | {missing} | – | – | – | – | – |",
        "",
    ]
    args.out.write_text("\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    main()
