"""Start-up faults of the services that keep state in Postgres: a malformed DATABASE_URL ends the
process with one line, exit code 2 and no password anywhere; a store started while Postgres is down
waits for it, not ready, instead of exiting."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
import pytest

from services.localstack import EmbeddedBroker, free_port
from services.runtime.errors import ExitCode
from services.runtime.postgres import redact

pytestmark = pytest.mark.integration

SECRET = "hunter2-s3cret-Pw"

MALFORMED_URLS = [
    f"postgresql//newsflow:{SECRET}@localhost/newsflow",  # the scheme's colon missing: libpq quotes it all
    f"postgresql://newsflow:{SECRET}@localhost:notaport/newsflow",
    f"host=localhost password={SECRET} dbname=newsflow port=abc",
    f"postgresql://newsflow:{SECRET}@127.0.0.1/newsflow?sslmode=bogus",
    f"postgresql://newsflow:{SECRET}@127.0.0.1/newsflow?bogus=1",
    f"host='unterminated password={SECRET}",
]


def _run(module: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *module],
        env={**os.environ, "NEWSFLOW_HOME": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_a_malformed_database_url_is_one_line_without_the_password(url: str) -> None:
    assert SECRET not in redact(f"could not parse {url!r}", url)


@pytest.mark.parametrize(
    ("module", "env"),
    [
        (["services.store"], {}),
        (["services.ingest", "--until-idle"], {"INGEST_LEDGER": "postgres"}),
        (["services.enrich"], {"STORY_STATE": "postgres"}),
        (["services.cli", "export", "--format", "jsonl"], {}),
    ],
    ids=["store", "ingest", "enrich", "cli-export"],
)
def test_every_service_refuses_a_malformed_database_url_with_exit_2(
    module: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    url = MALFORMED_URLS[0]
    result = _run(module, {**env, "DATABASE_URL": url, "INGEST_INBOX": str(tmp_path / "inbox")}, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == ExitCode.USAGE, output
    assert SECRET not in output
    assert "Traceback" not in output
    assert "DATABASE_URL" in output
    assert len([line for line in output.splitlines() if line.strip()]) == 1, output


def _connect_upstream(host: str, port: int) -> socket.socket:
    if host.startswith("/"):  # a socket directory: the embedded server listens on a Unix socket
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(f"{host}/.s.PGSQL.{port}")
        return upstream
    return socket.create_connection((host, port))


def _forward(listener: socket.socket, target: tuple[str, int], stop: threading.Event) -> None:
    """A TCP forwarder to the real Postgres: until it starts, the store's port is closed ("Postgres down")."""

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            client, _ = listener.accept()
        except TimeoutError:
            continue
        upstream = _connect_upstream(*target)
        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()


@contextmanager
def _postgres_up_on(port: int, target: tuple[str, int]) -> Iterator[None]:
    listener = socket.create_server(("127.0.0.1", port))
    stop = threading.Event()
    thread = threading.Thread(target=_forward, args=(listener, target, stop), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def _ready(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _wait(condition: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.2)
    return False


def test_store_started_while_postgres_is_down_waits_then_runs(
    database_url: str, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    target = (str(info.get("host") or "127.0.0.1"), int(str(info.get("port") or 5432)))
    down_port, metrics_port = free_port(), free_port()
    info.update(host="127.0.0.1", port=str(down_port))
    log_path = tmp_path / "store.log"
    with open(log_path, "wb") as log:
        store = subprocess.Popen(
            [sys.executable, "-m", "services.store"],
            env={
                **os.environ,
                "NEWSFLOW_HOME": str(tmp_path),
                "DATABASE_URL": psycopg.conninfo.make_conninfo(**info),  # type: ignore[arg-type]
                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                "METRICS_PORT": str(metrics_port),
                "RETRY_MAX_BACKOFF_S": "1",
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        assert _wait(lambda: "Postgres is unreachable, retrying" in log_path.read_text(), 30), log_path.read_text()
        assert store.poll() is None, log_path.read_text()  # still running, not exited
        assert _ready(metrics_port) == 503
        with _postgres_up_on(down_port, target):
            assert _wait(lambda: _ready(metrics_port) == 200, 60), log_path.read_text()
            with psycopg.connect(database_url) as conn:
                applied = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
            assert applied is not None and int(str(applied[0])) > 0
            store.terminate()
            assert store.wait(30) == 0, log_path.read_text()
    finally:
        if store.poll() is None:
            store.kill()
            store.wait(10)
