"""A downstream service in Python on librdkafka (confluent-kafka): subscribes to newsflow's enriched
topic, validates every event against the committed JSON Schema, prints one JSON line per article.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 python subscriber.py

Same environment as the Node example (KAFKA_BOOTSTRAP_SERVERS, KAFKA_TOPIC_PREFIX, SUBSCRIBER_GROUP_ID,
SUBSCRIBER_FROM_BEGINNING, SUBSCRIBER_SCHEMA, SUBSCRIBER_MAX_ARTICLES). Offsets are committed after an
event is handled (here: printed), so a crash re-reads it instead of skipping it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "services/contracts/schemas/articles.enriched.v1.json"


def header(message: Message, name: str) -> str | None:
    """The last value of a header (Kafka allows repeats), as text."""
    found = None
    for pair in message.headers() or []:
        key, value = pair[0], pair[1]
        if key == name and value is not None:
            found = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
    return found


def describe(message: Message, validator: Draft202012Validator) -> dict[str, Any]:
    errors: list[str] = []
    event: dict[str, Any] = {}
    try:
        event = json.loads(message.value() or b"")
        errors = [f"/{'/'.join(map(str, e.absolute_path))} {e.message}" for e in validator.iter_errors(event)]
    except ValueError as exc:
        errors = [f"not JSON: {exc}"]
    key = message.key()
    return {
        "valid": not errors,
        "errors": errors,
        "article_id": event.get("article_id") or (key.decode() if key else None),
        "title": event.get("title"),
        "entities": len(event.get("entities") or []),
        "story_id": event.get("story_id"),
        "schema": header(message, "newsflow-schema"),
        "trace_id": header(message, "newsflow-trace-id"),
        "seen_at": header(message, "newsflow-seen-at"),
        "partition": message.partition(),
        "offset": message.offset(),
    }


def main() -> int:
    env = os.environ
    schema = json.loads(Path(env.get("SUBSCRIBER_SCHEMA", DEFAULT_SCHEMA)).read_text(encoding="utf-8"))
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    max_articles = int(env["SUBSCRIBER_MAX_ARTICLES"]) if env.get("SUBSCRIBER_MAX_ARTICLES") else None
    consumer = Consumer(
        {
            "bootstrap.servers": env.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            "group.id": env.get("SUBSCRIBER_GROUP_ID", "newsflow-subscriber-python"),
            "auto.offset.reset": "earliest" if env.get("SUBSCRIBER_FROM_BEGINNING", "true") == "true" else "latest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([f"{env.get('KAFKA_TOPIC_PREFIX', '')}articles.enriched"])
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    seen = 0
    try:
        while not stopping and (max_articles is None or seen < max_articles):
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    print(f"consumer error: {error}", file=sys.stderr, flush=True)
                continue
            print(json.dumps(describe(message, validator)), flush=True)
            consumer.commit(message=message, asynchronous=False)
            seen += 1
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
