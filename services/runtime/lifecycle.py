"""Process lifecycle shared by the three services: logging, signals, the health endpoint, and the
wiring of a consuming stage. Each service's ``__main__`` is its composition root and calls these."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TypeVar

from pydantic import BaseModel

from services.contracts import Stage, Topics
from services.runtime import metrics
from services.runtime.errors import ConfigurationError, ExitCode, TransientError
from services.runtime.health import Health, serve_health
from services.runtime.kafka import EventConsumer, EventProducer, ensure_topics
from services.runtime.logs import configure_logging
from services.runtime.messages import TopicPartition
from services.runtime.runner import BatchHandler, Runner
from services.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

VERSION = "0.1.0"

T = TypeVar("T")


def start_process(stage: Stage, settings: ServiceSettings) -> tuple[threading.Event, Health]:
    """Configure logs, turn SIGTERM/SIGINT into a stop request, serve /metrics, /healthz, /readyz."""
    configure_logging(stage.value, settings.log_level, settings.log_format)
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("stop requested", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    sys.excepthook = _configuration_errors_in_one_line(sys.excepthook)
    metrics.BUILD_INFO.labels(stage.value).info({"version": VERSION})
    # A batch of enrichment can take a while; liveness allows for the slowest expected batch.
    health = Health(stall_after_s=max(120.0, settings.kafka_max_poll_interval_ms / 1000))
    if settings.metrics_port:
        server = serve_health(health, settings.metrics_host, settings.metrics_port, metrics.registry_for(stage))
        log.info("serving metrics", extra={"address": f"{settings.metrics_host}:{server.server_address[1]}"})
    return stop, health


def _configuration_errors_in_one_line(
    previous: Callable[[type[BaseException], BaseException, TracebackType | None], object],
) -> Callable[[type[BaseException], BaseException, TracebackType | None], None]:
    """The safety net of every start-up path not wrapped in ``exit_when_unreachable``: a setting that
    cannot work ends the process with one JSON error line and exit code USAGE, not a traceback."""

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if isinstance(exc, ConfigurationError):
            log.error("cannot start: a setting is invalid", extra={"error": str(exc)})
            logging.shutdown()
            os._exit(ExitCode.USAGE)  # from an excepthook, sys.exit would be reported as another error
        previous(kind, exc, tb)

    return hook


@contextmanager
def exit_when_unreachable() -> Iterator[None]:
    """A dependency that cannot be reached at start-up ends the process with one JSON error line and
    exit code 3, so a supervisor can tell "broker down" from a crash and say so; a setting that cannot
    work (a malformed ``DATABASE_URL``) ends it with exit code 2."""
    try:
        yield
    except TransientError as exc:
        log.error("cannot start: a dependency is unreachable", extra={"error": str(exc)})
        sys.exit(ExitCode.UNREACHABLE)
    except ConfigurationError as exc:
        log.error("cannot start: a setting is invalid", extra={"error": str(exc)})
        sys.exit(ExitCode.USAGE)


def wait_until_reachable(
    what: str,
    attempt: Callable[[], T],
    *,
    stage: Stage,
    settings: ServiceSettings,
    stop: threading.Event,
    health: Health,
) -> T | None:
    """``attempt()`` until it does not raise ``TransientError``, backing off between tries (the runner's
    bounds: ``RETRY_INITIAL_BACKOFF_S`` doubling up to ``RETRY_MAX_BACKOFF_S``) and logging each wait;
    the process stays alive and not ready meanwhile. None if a stop was requested first.

    For a dependency the process cannot work without but may start before (Postgres for the store):
    a supervisor then starts the parts in any order. A ``ConfigurationError`` propagates (wrap the call
    in ``exit_when_unreachable`` to end the process with it)."""
    backoff = settings.retry_initial_backoff_s
    health.set_ready(False)
    while not stop.is_set():
        health.tick()
        try:
            return attempt()
        except TransientError as exc:
            metrics.TRANSIENT_ERRORS.labels(stage).inc()
            log.warning(f"{what} is unreachable, retrying", extra={"error": str(exc), "backoff_s": backoff})
            stop.wait(backoff)
            backoff = min(backoff * 2, settings.retry_max_backoff_s)
    return None


def run_consuming_stage(
    *,
    stage: Stage,
    settings: ServiceSettings,
    group_id: str,
    models: dict[str, type[BaseModel]],
    handler: BatchHandler,
    stop: threading.Event,
    health: Health,
) -> None:
    with exit_when_unreachable():
        ensure_topics(settings, [topic.value for topic in Topics])
    producer = EventProducer(settings, client_id=f"newsflow-{stage.value}")
    runner: Runner | None = None

    def on_revoked(partitions: set[TopicPartition]) -> None:
        if runner is not None:
            runner.on_revoked(partitions)

    consumer = EventConsumer(settings, group_id=group_id, topics=list(models), on_revoked=on_revoked)
    runner = Runner(
        stage=stage,
        settings=settings,
        consumer=consumer,
        producer=producer,
        models=models,
        handler=handler,
        health=health,
        stop=stop,
    )
    runner.run()
