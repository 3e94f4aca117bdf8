"""Process lifecycle shared by the three services: logging, signals, the health endpoint, and the
wiring of a consuming stage. Each service's ``__main__`` is its composition root and calls these."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import BaseModel

from services.contracts import Stage, Topics
from services.runtime import metrics
from services.runtime.errors import ExitCode, TransientError
from services.runtime.health import Health, serve_health
from services.runtime.kafka import EventConsumer, EventProducer, ensure_topics
from services.runtime.logs import configure_logging
from services.runtime.messages import TopicPartition
from services.runtime.runner import BatchHandler, Runner
from services.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

VERSION = "0.1.0"


def start_process(stage: Stage, settings: ServiceSettings) -> tuple[threading.Event, Health]:
    """Configure logs, turn SIGTERM/SIGINT into a stop request, serve /metrics, /healthz, /readyz."""
    configure_logging(stage.value, settings.log_level, settings.log_format)
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("stop requested", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    metrics.BUILD_INFO.labels(stage.value).info({"version": VERSION})
    # A batch of enrichment can take a while; liveness allows for the slowest expected batch.
    health = Health(stall_after_s=max(120.0, settings.kafka_max_poll_interval_ms / 1000))
    if settings.metrics_port:
        server = serve_health(health, settings.metrics_host, settings.metrics_port, metrics.registry_for(stage))
        log.info("serving metrics", extra={"address": f"{settings.metrics_host}:{server.server_address[1]}"})
    return stop, health


@contextmanager
def exit_when_unreachable() -> Iterator[None]:
    """A dependency that cannot be reached at start-up ends the process with one JSON error line and
    exit code 3, so a supervisor can tell "broker down" from a crash and say so."""
    try:
        yield
    except TransientError as exc:
        log.error("cannot start: a dependency is unreachable", extra={"error": str(exc)})
        sys.exit(ExitCode.UNREACHABLE)


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
