"""Each process serves only its own collectors, every labelled series born at 0."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from services.contracts import DeadLetterReason, Stage
from services.runtime import metrics


def _samples(registry: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _names(registry: CollectorRegistry) -> set[str]:
    return {name for name, _ in _samples(registry)}


def test_a_stage_serves_only_its_own_collectors() -> None:
    enrich = _names(metrics.registry_for(Stage.ENRICH))
    assert not {n for n in enrich if n.startswith(("newsflow_ingest_", "newsflow_store_"))}
    assert "newsflow_consumer_lag" not in enrich  # the lag exporter's, read from the broker
    ingest = _names(metrics.registry_for(Stage.INGEST))
    assert not {n for n in ingest if n.startswith(("newsflow_enrich_", "newsflow_store_"))}
    store = _names(metrics.registry_for(Stage.STORE))
    assert not {n for n in store if n.startswith(("newsflow_enrich_", "newsflow_ingest_"))}
    assert _names(metrics.lag_exporter_registry()) == {"newsflow_lag_exporter_last_success_timestamp_seconds"} | (
        {"newsflow_consumer_lag"} & _names(metrics.lag_exporter_registry())
    )


@pytest.mark.parametrize("stage", list(Stage))
def test_every_stage_has_the_core_series_at_zero_from_the_start(stage: Stage) -> None:
    samples = _samples(metrics.registry_for(stage))

    def value(name: str, **labels: str) -> float | None:
        return samples.get((name, frozenset({"stage": stage.value, **labels}.items())))

    for outcome in metrics.Outcome:
        assert value("newsflow_messages_processed_total", outcome=outcome.value) is not None, (stage, outcome)
    for reason in DeadLetterReason:
        assert value("newsflow_dead_letters_total", reason=reason.value) is not None, (stage, reason)
    assert value("newsflow_transient_errors_total") is not None
    assert value("newsflow_in_flight") == 0
    assert value("newsflow_batch_processing_seconds_count") is not None
    assert value("newsflow_last_batch_timestamp_seconds")  # the start time until the first batch


def test_a_labelled_counter_starts_at_zero_so_the_first_increment_is_visible() -> None:
    registry = metrics.registry_for(Stage.STORE)
    before = _samples(registry)[("newsflow_transient_errors_total", frozenset({("stage", "store")}))]
    metrics.TRANSIENT_ERRORS.labels(Stage.STORE).inc()
    after = _samples(registry)[("newsflow_transient_errors_total", frozenset({("stage", "store")}))]
    assert after == before + 1


def test_the_seen_at_header_wins_over_the_event_time_and_a_bad_one_falls_back() -> None:
    assert metrics.seen_at_seconds([("newsflow-seen-at", b"1700000000123")], fallback=5.0) == 1700000000.123
    assert metrics.seen_at_seconds([("other", b"1")], fallback=5.0) == 5.0
    assert metrics.seen_at_seconds([("newsflow-seen-at", b"soon")], fallback=5.0) == 5.0
    assert metrics.seen_at_seconds([], fallback=5.0) == 5.0
