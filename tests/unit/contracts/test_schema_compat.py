"""The topic contracts are a public API: the committed JSON Schemas must match the models, and the
compatibility check must catch every kind of breaking change."""

from __future__ import annotations

import copy
from typing import Any

from services.contracts.schemas import check_schemas, compatibility_problems, current_schemas


def test_committed_schemas_match_the_models() -> None:
    assert check_schemas() == []


def _enriched() -> dict[str, Any]:
    return copy.deepcopy(current_schemas()["articles.enriched.v1.json"])


def test_adding_an_optional_field_is_compatible() -> None:
    old = _enriched()
    new = _enriched()
    new["properties"]["sentiment"] = {"type": "number"}
    assert compatibility_problems(old, new, "x") == []


def test_removing_a_field_breaks() -> None:
    old = _enriched()
    new = _enriched()
    del new["properties"]["story_id"]
    assert compatibility_problems(old, new, "x") == ["x: #.story_id was removed"]


def test_changing_a_type_breaks() -> None:
    old = _enriched()
    new = _enriched()
    new["$defs"]["Entity"]["properties"]["count"] = {"type": "string"}
    assert compatibility_problems(old, new, "x") == ["x: #/$defs/Entity.count changed type"]


def test_a_newly_required_field_breaks() -> None:
    old = _enriched()
    new = _enriched()
    new["required"] = [*new["required"], "story_id"]
    assert compatibility_problems(old, new, "x") == ["x: #.story_id is newly required"]


def test_removing_an_enum_value_breaks_but_adding_one_does_not() -> None:
    old = copy.deepcopy(current_schemas()["articles.deadletter.v1.json"])
    added = copy.deepcopy(old)
    added["$defs"]["DeadLetterReason"]["enum"].append("too_old")
    assert compatibility_problems(old, added, "x") == []
    removed = copy.deepcopy(old)
    removed["$defs"]["DeadLetterReason"]["enum"].remove("vanished")
    assert compatibility_problems(old, removed, "x") == ["x: #/$defs/DeadLetterReason lost enum values ['vanished']"]


def test_description_changes_are_cosmetic() -> None:
    old = _enriched()
    new = _enriched()
    new["properties"]["title"]["description"] = "The headline."
    assert compatibility_problems(old, new, "x") == []
