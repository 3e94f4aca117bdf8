"""The AsyncAPI document: generated from the models, committed, valid AsyncAPI 3 (checked with the
AsyncAPI project's own parser), and guarded against breaking changes by ``newsflow schema --check``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from services.cli import main
from services.contracts.asyncapi import ASYNCAPI_FILE, asyncapi_document, check_asyncapi
from services.contracts.headers import Header
from services.contracts.schemas import SCHEMA_DIR, write_schemas

REPO_ROOT = Path(__file__).resolve().parents[3]
VALIDATOR = REPO_ROOT / "tools" / "asyncapi-validate"


def test_committed_document_matches_the_models() -> None:
    assert check_asyncapi() == []


def test_every_topic_is_a_channel_with_key_headers_and_kafka_bindings() -> None:
    document = asyncapi_document()
    addresses = {c["address"]: c for c in document["channels"].values()}
    assert set(addresses) == {"{prefix}articles.cleaned", "{prefix}articles.enriched", "{prefix}articles.deadletter"}
    messages = document["components"]["messages"]
    schemas = document["components"]["schemas"]
    for channel in addresses.values():
        assert channel["bindings"]["kafka"]["topic"] == channel["address"].removeprefix("{prefix}")
        (ref,) = channel["messages"].values()
        message = messages[ref["$ref"].rsplit("/", 1)[1]]
        assert "murmur2" in message["bindings"]["kafka"]["key"]["description"]
        headers = schemas[message["headers"]["$ref"].rsplit("/", 1)[1]]
        assert {Header.TRACE_ID, Header.SEEN_AT, Header.CONTENT_TYPE} <= set(headers["properties"])
    assert "newsflow.errors.offset" in schemas["DeadLetterHeaders"]["properties"]
    groups = {
        op["bindings"]["kafka"]["groupId"]["enum"][0]
        for op in document["operations"].values()
        if op["action"] == "receive"
    }
    assert groups == {"newsflow-enrich", "newsflow-store"}


def _committed_copy(tmp_path: Path, edit: Any) -> Path:
    folder = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, folder)
    for path in folder.glob("*.json"):
        document = json.loads(path.read_text())
        edit(path.name, document)
        path.write_text(json.dumps(document))
    return folder


def test_a_breaking_change_fails_the_check_for_the_json_schemas_and_the_asyncapi_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The committed files know a field the models no longer have: the same as removing it from a model."""

    def add_field_the_models_lack(name: str, document: dict[str, Any]) -> None:
        if name == "articles.enriched.v1.json":
            document["properties"]["sentiment"] = {"type": "number"}
        elif name == ASYNCAPI_FILE:
            document["components"]["schemas"]["EnrichedArticle"]["properties"]["sentiment"] = {"type": "number"}

    folder = _committed_copy(tmp_path, add_field_the_models_lack)
    with pytest.raises(SystemExit) as exited:
        main(["schema", "--check", "--out", str(folder)])
    assert exited.value.code == 1
    errors = capsys.readouterr().err.splitlines()
    assert "articles.enriched.v1.json: #.sentiment was removed" in errors
    assert "asyncapi.json EnrichedArticle: #.sentiment was removed" in errors


def test_a_removed_header_or_channel_breaks_the_asyncapi_file(tmp_path: Path) -> None:
    def add_header_and_channel(name: str, document: dict[str, Any]) -> None:
        if name == ASYNCAPI_FILE:
            document["components"]["schemas"]["EventHeaders"]["properties"]["newsflow-tenant"] = {"type": "string"}
            document["channels"]["articlesArchived"] = {"address": "articles.archived", "messages": {}}

    problems = check_asyncapi(_committed_copy(tmp_path, add_header_and_channel))
    assert "asyncapi.json: channel articlesArchived was removed" in problems
    assert "asyncapi.json EventHeaders: #.newsflow-tenant was removed" in problems


def test_json_schemas_have_a_dialect_and_a_stable_id_per_version(tmp_path: Path) -> None:
    for path in write_schemas(tmp_path):
        schema = json.loads(path.read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        topic, version = path.name.removesuffix(".json").rsplit(".v", 1)
        assert schema["$id"] == f"urn:newsflow:schema:{topic}:v{version}"


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(VALIDATOR / "validate.mjs"), str(path)], capture_output=True, text=True, timeout=120
    )


def test_the_committed_document_is_valid_asyncapi(node_package: Any, tmp_path: Path) -> None:
    node_package(VALIDATOR)
    result = _validate(SCHEMA_DIR / ASYNCAPI_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid: AsyncAPI 3.0.0, 3 channels" in result.stdout

    # The validator is not a rubber stamp: an operation on a channel that does not exist is refused.
    broken = asyncapi_document()
    broken["operations"]["sendCleanedArticle"]["channel"] = {"$ref": "#/channels/nowhere"}
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    result = _validate(path)
    assert result.returncode == 1
    assert "invalid:" in result.stdout
