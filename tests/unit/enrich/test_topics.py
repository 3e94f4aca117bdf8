from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.enrich.taxonomy import TaxonomyError, build_taxonomy, load_taxonomy
from services.enrich.topics import score_topics

IPTC_SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "iptc-mediatopics.json"


def test_packaged_taxonomy_has_all_level_one_topics_and_valid_parents() -> None:
    tax = load_taxonomy(None)
    level1 = {c for c, t in tax.topics.items() if t.level == 1}
    assert len(level1) == 17
    for code in ("medtop:20000639", "medtop:20000056", "medtop:20000642", "medtop:20000062"):
        assert tax.topics[code].keywords, code
        assert tax.ancestors(code)[-1] in level1


@pytest.mark.skipif(not IPTC_SHARED.exists(), reason="shared IPTC vocabulary not present")
def test_codes_labels_and_parents_match_iptc() -> None:
    iptc = json.loads(IPTC_SHARED.read_text())["topics"]
    for code, t in load_taxonomy(None).topics.items():
        assert iptc[code]["label"] == t.label
        assert iptc[code]["parent"] == t.parent


def test_scores_propagate_to_parents_below_child() -> None:
    tax = load_taxonomy(None)
    topics = score_topics("New sanctions on banks", "The embargo and asset freeze take effect today.", tax)
    by_code = {t.code: t.score for t in topics}
    assert topics[0].code == "medtop:20000642"
    assert by_code["medtop:20000638"] < by_code["medtop:20000642"]
    assert all(0.0 <= t.score <= 1.0 for t in topics)


def test_unrelated_text_scores_no_topic() -> None:
    assert score_topics("Untitled", "Lorem ipsum dolor sit amet.", load_taxonomy(None)) == []


def test_custom_taxonomy_file(tmp_path: Path) -> None:
    path = tmp_path / "tax.json"
    path.write_text(
        json.dumps(
            {
                "topics": {
                    "x:1": {"label": "space", "parent": None, "level": 1, "keywords": []},
                    "x:2": {
                        "label": "rockets",
                        "parent": "x:1",
                        "level": 2,
                        "keywords": ["rocket", "launch pad"],
                    },
                }
            }
        )
    )
    topics = score_topics("Rocket test", "The rocket left the launch pad.", load_taxonomy(path))
    assert [t.code for t in topics] == ["x:2", "x:1"]


def test_bad_parent_is_rejected() -> None:
    with pytest.raises(TaxonomyError):
        build_taxonomy({"topics": {"a": {"label": "a", "parent": "missing"}}})
