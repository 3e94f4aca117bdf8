"""KAFKA_TOPIC_PREFIX: empty keeps the contract's names; anything Kafka cannot name a topic with is refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.contracts import Topics
from services.runtime.settings import ServiceSettings


def test_the_default_keeps_todays_topic_names() -> None:
    assert ServiceSettings().topic_name(Topics.CLEANED) == "articles.cleaned"


def test_a_prefix_goes_in_front_of_every_topic() -> None:
    settings = ServiceSettings(kafka_topic_prefix="staging.")
    assert [settings.topic_name(t) for t in Topics] == [
        "staging.articles.cleaned",
        "staging.articles.enriched",
        "staging.articles.deadletter",
    ]


@pytest.mark.parametrize("prefix", ["team a.", "news/", "ünï."])
def test_a_prefix_kafka_cannot_use_is_refused_at_start_up(prefix: str) -> None:
    with pytest.raises(ValidationError, match="kafka_topic_prefix"):
        ServiceSettings(kafka_topic_prefix=prefix)
