"""JSON Schema export of the topic contracts, and the compatibility check CI runs against the
committed files (``schemas/<topic>.v<schema_version>.json``).

Compatible changes within a schema version: new optional properties, new enum values, changed
descriptions. Breaking: a removed property, a changed type, a newly required property, a removed
enum value. A breaking change needs a new ``schema_version`` (and so a new file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.contracts.topics import TOPIC_MODELS

SCHEMA_DIR = Path(__file__).parent / "schemas"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_COSMETIC = {"description", "title", "default", "examples"}


def _version(model: Any) -> int:
    return int(model.model_fields["schema_version"].default)


def _file_name(topic: str, model: Any) -> str:
    return f"{topic}.v{_version(model)}.json"


def schema_id(topic: str, version: int) -> str:
    """Stable ``$id`` of one topic's schema at one version: a URN, so it names the contract without
    promising a URL that serves it."""
    return f"urn:newsflow:schema:{topic}:v{version}"


def current_schemas() -> dict[str, dict[str, Any]]:
    return {
        _file_name(topic, model): {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": schema_id(topic, _version(model)),
            **model.model_json_schema(),
        }
        for topic, model in TOPIC_MODELS.items()
    }


def write_schemas(folder: Path | None = None) -> list[Path]:
    folder = folder or SCHEMA_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in current_schemas().items():
        path = folder / name
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


def _shape(schema: Any) -> Any:
    """The schema without cosmetic keys: what a consumer's parser depends on."""
    if isinstance(schema, dict):
        return {k: _shape(v) for k, v in schema.items() if k not in _COSMETIC and k != "properties"}
    if isinstance(schema, list):
        return [_shape(v) for v in schema]
    return schema


def _objects(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    objects = {"#": schema}
    objects.update({f"#/$defs/{name}": definition for name, definition in schema.get("$defs", {}).items()})
    return objects


def compatibility_problems(old: dict[str, Any], new: dict[str, Any], name: str) -> list[str]:
    problems: list[str] = []
    new_objects = _objects(new)
    for path, old_object in _objects(old).items():
        new_object = new_objects.get(path)
        if new_object is None:
            problems.append(f"{name}: {path} was removed")
            continue
        old_enum, new_enum = old_object.get("enum"), new_object.get("enum")
        if old_enum is not None:
            missing = [v for v in old_enum if v not in (new_enum or [])]
            if missing:
                problems.append(f"{name}: {path} lost enum values {missing}")
        old_props = old_object.get("properties", {})
        new_props = new_object.get("properties", {})
        for prop, old_prop in old_props.items():
            if prop not in new_props:
                problems.append(f"{name}: {path}.{prop} was removed")
            elif _shape(old_prop) != _shape(new_props[prop]):
                problems.append(f"{name}: {path}.{prop} changed type")
        newly_required = set(new_object.get("required", [])) - set(old_object.get("required", []))
        for prop in sorted(newly_required):
            problems.append(f"{name}: {path}.{prop} is newly required")
    return problems


def check_schemas(folder: Path | None = None) -> list[str]:
    """Problems between the models and the committed schema files; empty when all is well."""
    folder = folder or SCHEMA_DIR
    problems: list[str] = []
    current = current_schemas()
    for name, schema in current.items():
        path = folder / name
        if not path.exists():
            problems.append(f"{name}: not committed; run `newsflow schema`")
            continue
        committed = json.loads(path.read_text(encoding="utf-8"))
        breaking = compatibility_problems(committed, schema, name)
        if committed.get("$id", schema["$id"]) != schema["$id"]:
            breaking.append(f"{name}: $id changed")
        problems.extend(breaking)
        if not breaking and committed != json.loads(json.dumps(schema)):
            problems.append(f"{name}: compatible change not committed; run `newsflow schema`")
    return problems
