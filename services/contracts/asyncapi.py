"""The AsyncAPI 3 document of newsflow's topics, generated from the same models as the JSON Schemas and
committed beside them (``schemas/asyncapi.json``); ``newsflow schema --check`` guards it the same way.

It says what a subscriber needs and the README only told in prose: each topic (channel), its message,
key and partitioning rule, the headers, the Kafka bindings (partitions, consumer groups) and which
stage sends or receives it. Payload schemas are pydantic's, gathered under ``components.schemas``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from services.contracts.headers import ERROR_HEADERS, EVENT_HEADERS, HeaderDoc
from services.contracts.schemas import SCHEMA_DIR, compatibility_problems
from services.contracts.topics import TOPIC_MODELS, Topics

ASYNCAPI_FILE = "asyncapi.json"
KAFKA_BINDING_VERSION = "0.5.0"
_REF = "#/components/schemas/{model}"

PARTITIONING = (
    "Partition = murmur2(key) mod partitions, the Java client's default partitioner (kafka-python's and "
    "kafkajs's default too; librdkafka with partitioner=murmur2_random): every event of one article lands "
    "on one partition, in order. Order across partitions is not defined."
)


@dataclass(frozen=True)
class ChannelDoc:
    channel_id: str
    title: str
    description: str
    key: str
    sender: str
    receivers: tuple[tuple[str, str], ...]  # (stage, consumer group id)


CHANNELS: dict[Topics, ChannelDoc] = {
    Topics.CLEANED: ChannelDoc(
        "articlesCleaned",
        "Cleaned articles",
        "Articles extracted and cleaned by ingest from objects dropped into the bucket.",
        "article_id (hash of the normalised body text: exact duplicates share it).",
        "ingest",
        (("enrich", "newsflow-enrich"),),
    ),
    Topics.ENRICHED: ChannelDoc(
        "articlesEnriched",
        "Enriched articles",
        "Cleaned articles plus entities, quotes, IPTC topics and their story. The topic downstream "
        "services subscribe to; a later enrichment of the same article_id supersedes an earlier one.",
        "article_id.",
        "enrich",
        (("store", "newsflow-store"),),
    ),
    Topics.DEADLETTER: ChannelDoc(
        "articlesDeadletter",
        "Dead letters",
        "Input that a stage refused, with the reason, error-context headers and a way back to the input "
        "(quarantine copy, or the original message). `newsflow redrive` republishes them once fixed.",
        "article_id when known, else the source uri, else dead_letter_id.",
        "ingest, enrich and store",
        (("store", "newsflow-store"),),
    ),
}


def _header_schema(title: str, docs: dict[Any, HeaderDoc]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, doc in docs.items():
        schema: dict[str, Any] = {"type": "string", "description": doc.description}
        if doc.pattern:
            schema["pattern"] = doc.pattern
        properties[str(name)] = schema
    return {
        "type": "object",
        "title": title,
        "description": "Kafka record headers; every value is a UTF-8 string.",
        "properties": properties,
        "required": sorted(str(name) for name, doc in docs.items() if doc.required),
    }


def _message_id(model: type[BaseModel]) -> str:
    return model.__name__


def asyncapi_document(partitions: int = 3) -> dict[str, Any]:
    models = list(TOPIC_MODELS.values())
    _, definitions = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    schemas["EventHeaders"] = _header_schema("EventHeaders", EVENT_HEADERS)
    schemas["DeadLetterHeaders"] = _header_schema("DeadLetterHeaders", {**EVENT_HEADERS, **ERROR_HEADERS})

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic, model in TOPIC_MODELS.items():
        doc = CHANNELS[topic]
        message_id = _message_id(model)
        version = model.model_fields["schema_version"].default
        messages[message_id] = {
            "name": message_id,
            "title": f"{message_id} v{version}",
            "summary": (model.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/json",
            "headers": {
                "$ref": f"#/components/schemas/{'DeadLetterHeaders' if topic is Topics.DEADLETTER else 'EventHeaders'}"
            },
            "payload": {"$ref": f"#/components/schemas/{message_id}"},
            "bindings": {
                "kafka": {
                    "bindingVersion": KAFKA_BINDING_VERSION,
                    "key": {"type": "string", "description": f"{doc.key} {PARTITIONING}"},
                }
            },
        }
        channels[doc.channel_id] = {
            "address": f"{{prefix}}{topic.value}",
            "title": doc.title,
            "description": f"{doc.description} Key: {doc.key} Sent by {doc.sender}.",
            "parameters": {"prefix": {"$ref": "#/components/parameters/prefix"}},
            "messages": {message_id: {"$ref": f"#/components/messages/{message_id}"}},
            "bindings": {
                "kafka": {
                    "bindingVersion": KAFKA_BINDING_VERSION,
                    "topic": topic.value,
                    "partitions": partitions,
                }
            },
        }
        message_ref = {"$ref": f"#/channels/{doc.channel_id}/messages/{message_id}"}
        channel_ref = {"$ref": f"#/channels/{doc.channel_id}"}
        operations[f"send{message_id}"] = {
            "action": "send",
            "title": f"{doc.sender} publishes {topic.value}",
            "channel": channel_ref,
            "messages": [message_ref],
        }
        for stage, group in doc.receivers:
            operations[f"{stage}Receives{message_id}"] = {
                "action": "receive",
                "title": f"{stage} consumes {topic.value} in consumer group {group}",
                "channel": channel_ref,
                "messages": [message_ref],
                "bindings": {
                    "kafka": {
                        "bindingVersion": KAFKA_BINDING_VERSION,
                        "groupId": {"type": "string", "enum": [group]},
                    }
                },
            }

    return {
        "asyncapi": "3.0.0",
        "id": "urn:newsflow:events",
        "info": {
            "title": "newsflow events",
            "version": "1.0.0",
            "description": (
                "The Kafka topics of newsflow (ingest -> enrich -> store). Values are UTF-8 JSON of the payload "
                "schema; the same schemas are committed as JSON Schema files (schemas/<topic>.v<N>.json, with "
                "$id urn:newsflow:schema:<topic>:v<N>). Within a schema_version, fields are only added as optional "
                "and enum values only added."
            ),
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "KAFKA_BOOTSTRAP_SERVERS of the deployment; `newsflow dev` runs an embedded broker.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "parameters": {
                "prefix": {
                    "description": "KAFKA_TOPIC_PREFIX of the deployment (empty by default), e.g. `staging.`.",
                    "default": "",
                    "examples": ["", "staging."],
                }
            },
        },
    }


def _render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def write_asyncapi(folder: Path | None = None) -> Path:
    folder = folder or SCHEMA_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ASYNCAPI_FILE
    path.write_text(_render(asyncapi_document()), encoding="utf-8")
    return path


def asyncapi_problems(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Breaking changes from the committed document to the current one: a channel, message or header
    removed or renamed, a key or address changed, a payload or header schema changed incompatibly."""
    name = ASYNCAPI_FILE
    problems: list[str] = []
    for channel_id, channel in old.get("channels", {}).items():
        current = new.get("channels", {}).get(channel_id)
        if current is None:
            problems.append(f"{name}: channel {channel_id} was removed")
            continue
        if current.get("address") != channel.get("address"):
            problems.append(f"{name}: channel {channel_id} address changed")
        for message_id in channel.get("messages", {}):
            if message_id not in current.get("messages", {}):
                problems.append(f"{name}: channel {channel_id} lost message {message_id}")
    old_messages = old.get("components", {}).get("messages", {})
    new_messages = new.get("components", {}).get("messages", {})
    for message_id, message in old_messages.items():
        current = new_messages.get(message_id)
        if current is None:
            problems.append(f"{name}: message {message_id} was removed")
            continue
        for part in ("headers", "payload"):
            if current.get(part) != message.get(part):
                problems.append(f"{name}: message {message_id} {part} now points elsewhere")
        old_key = message.get("bindings", {}).get("kafka", {}).get("key", {})
        new_key = current.get("bindings", {}).get("kafka", {}).get("key", {})
        if old_key.get("type") != new_key.get("type"):
            problems.append(f"{name}: message {message_id} key type changed")
    old_schemas = old.get("components", {}).get("schemas", {})
    new_schemas = new.get("components", {}).get("schemas", {})
    for schema_name, schema in old_schemas.items():
        if schema_name not in new_schemas:
            problems.append(f"{name}: components.schemas.{schema_name} was removed")
            continue
        problems.extend(compatibility_problems(schema, new_schemas[schema_name], f"{name} {schema_name}"))
    return problems


def check_asyncapi(folder: Path | None = None) -> list[str]:
    """Problems between the models and the committed AsyncAPI document; empty when all is well."""
    path = (folder or SCHEMA_DIR) / ASYNCAPI_FILE
    if not path.exists():
        return [f"{ASYNCAPI_FILE}: not committed; run `newsflow schema`"]
    committed = json.loads(path.read_text(encoding="utf-8"))
    current = json.loads(_render(asyncapi_document()))
    problems = asyncapi_problems(committed, current)
    if not problems and committed != current:
        problems.append(f"{ASYNCAPI_FILE}: compatible change not committed; run `newsflow schema`")
    return problems
