"""The level-1 topic classifier: numpy scoring, the shipped model, and how it combines with keyword subtopics.

The articles below are written for these tests (not training text: bench/data/topic_examples.json holds
that, in other words).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from spacy.language import Language

from services.contracts.events import CleanedArticle, SourceRef
from services.enrich.pipeline import Enricher
from services.enrich.stories import InMemoryStoryStore
from services.enrich.taxonomy import load_taxonomy
from services.enrich.topic_evaluation import score_topic_predictions
from services.enrich.topic_model import (
    DEFAULT_MODEL_FILE,
    TopicModel,
    TopicModelError,
    load_topic_model,
    read_topic_model,
    topic_model_from_arrays,
)
from services.enrich.topics import assign_topics
from services.ingest.formats import ExtractedArticle, ExtractionOptions, extract_articles

TAXONOMY_DIR = Path(__file__).resolve().parents[3] / "services" / "enrich" / "taxonomy"
SEEDS = Path(__file__).resolve().parents[3].parent / "shared" / "seeds"
LEVEL1 = {f"medtop:{k:02d}000000" for k in range(1, 18)}
POLITICS, LABOUR, ECONOMY, DISASTER, SPORT = (
    "medtop:11000000",
    "medtop:09000000",
    "medtop:04000000",
    "medtop:03000000",
    "medtop:15000000",
)
DIPLOMACY = {"medtop:20000639", "medtop:20000638"}

WILDFIRE = (
    "Blaze tears through hillside suburbs overnight",
    "A wind-driven fire jumped containment lines on Tuesday evening and burned more than 40 houses on the edge "
    "of the town. Crews with water-dropping helicopters fought the flames until dawn, and about 6,000 residents "
    "spent the night in school gyms after police went door to door ordering them out. The fire service said dry "
    "vegetation and gusts of 70 km/h had made the blaze impossible to stop.",
)
DOCK_STRIKE = (
    "Port shut as dockworkers walk out",
    "Container ships queued outside the harbour on Monday after thousands of dockworkers began an indefinite "
    "strike over pay and automation. The union says the port operator's offer of a 3 percent raise does not keep "
    "pace with inflation. Exporters warned that goods would rot on the quay, and the foreign ministry said it had "
    "briefed ambassadors and diplomats of trading partners about delayed shipments and the diplomatic fallout.",
)
LABOUR_PARTY = (
    "Labour sweeps the council elections",
    "The Labour party took control of eleven councils as voters punished the governing Conservatives. The party "
    "leader said the result showed the country wanted a change of government at the next general election.",
)
RUGBY = (
    "Stubborn defence carries the home side into the final",
    "The home fifteen made more than 200 tackles and their defence held out for the last ten minutes as the "
    "visitors camped on their line. The fly-half kicked four penalties and the captain lifted the trophy.",
)


def _tiny_arrays() -> dict[str, np.ndarray]:
    return {
        "name": np.array("tiny"),
        "version": np.array("tiny-1"),
        "classes": np.array(["a", "b"]),
        "labels": np.array(["alpha", "beta"]),
        "terms": np.array(["goal", "match", "vote", "goal match"]),
        "idf": np.array([2.0, 1.0, 1.5, 3.0], dtype=np.float32),
        "coef": np.array([[1.0, -1.0], [0.5, 0.0], [-1.0, 2.0], [2.0, 0.0]], dtype=np.float32),
        "intercept": np.array([0.0, 0.1], dtype=np.float32),
        "temperature": np.array(2.0),
        "max_chars": np.array(1000),
    }


def test_features_are_sublinear_tfidf_with_bigrams_and_l2_norm() -> None:
    model = topic_model_from_arrays(_tiny_arrays())
    index, weights = model.features("Goal, goal MATCH! x")  # 'x' is one character: not a token
    raw = {0: (1 + math.log(2)) * 2.0, 1: 1.0, 3: 3.0}  # goal twice, match, the bigram "goal match" once
    norm = math.sqrt(sum(v * v for v in raw.values()))
    assert index.tolist() == [0, 1, 3]
    assert weights.tolist() == pytest.approx([raw[i] / norm for i in (0, 1, 3)])


def test_probabilities_are_a_tempered_softmax_and_rank_is_ordered() -> None:
    model = topic_model_from_arrays(_tiny_arrays())
    logits = model.logits("vote vote")
    assert logits.tolist() == pytest.approx([-1.0, 2.1])  # one term, weight 1 after the l2 norm
    p = model.probabilities("vote vote")
    expected_b = math.exp(2.1 / 2) / (math.exp(2.1 / 2) + math.exp(-1.0 / 2))
    assert p.tolist() == pytest.approx([1 - expected_b, expected_b])
    assert [s.code for s in model.rank("vote")] == ["b", "a"]
    # Text without a known term still gets a ranking from the intercepts alone.
    assert [s.code for s in model.rank("")] == ["b", "a"]


def test_text_beyond_max_chars_is_not_read() -> None:
    arrays = _tiny_arrays()
    arrays["max_chars"] = np.array(5)
    model = topic_model_from_arrays(arrays)
    assert model.logits("goal vote vote").tolist() == model.logits("goal").tolist()


def test_malformed_model_files_are_rejected() -> None:
    arrays = _tiny_arrays()
    del arrays["idf"]
    with pytest.raises(TopicModelError, match="idf"):
        topic_model_from_arrays(arrays)
    arrays = _tiny_arrays()
    arrays["coef"] = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(TopicModelError, match="disagree"):
        topic_model_from_arrays(arrays)


def test_model_round_trips_through_npz_without_pickle(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **_tiny_arrays())
    path = tmp_path / "m.npz"
    path.write_bytes(buffer.getvalue())
    model = load_topic_model(path)
    assert (model.name, model.version, model.labels) == ("tiny", "tiny-1", {"a": "alpha", "b": "beta"})


@pytest.fixture(scope="module")
def shipped() -> TopicModel:
    return load_topic_model(None)


def test_shipped_model_is_compact_versioned_and_covers_all_level_one_topics(shipped: TopicModel) -> None:
    path = TAXONOMY_DIR / DEFAULT_MODEL_FILE
    assert path.stat().st_size <= 25 * 1024 * 1024
    assert read_topic_model(path).version == shipped.version
    assert shipped.version.startswith(shipped.name + "-")
    assert set(shipped.classes) == LEVEL1
    taxonomy = load_taxonomy(None)
    for code in LEVEL1:
        assert shipped.labels[code] == taxonomy.topics[code].label


@pytest.mark.parametrize("title,text", [("", ""), ("Untitled", "Lorem ipsum dolor sit amet."), ("?", "12 34 !!")])
def test_every_article_gets_a_level_one_topic(shipped: TopicModel, title: str, text: str) -> None:
    topics = assign_topics(title, text, load_taxonomy(None), shipped)
    assert topics and topics[0].code in LEVEL1
    assert 0.0 < topics[0].score <= 1.0


def _codes(title: str, text: str, model: TopicModel) -> list[str]:
    return [t.code for t in assign_topics(title, text, load_taxonomy(None), model)]


def test_wildfire_is_a_disaster(shipped: TopicModel) -> None:
    assert _codes(*WILDFIRE, shipped)[0] == DISASTER


def test_dock_strike_is_labour_or_economy_before_diplomacy(shipped: TopicModel) -> None:
    codes = _codes(*DOCK_STRIKE, shipped)
    assert codes[0] in {LABOUR, ECONOMY}
    assert all(codes.index(c) > 0 for c in DIPLOMACY if c in codes)


def test_labour_party_is_politics_and_rugby_defence_is_sport(shipped: TopicModel) -> None:
    assert _codes(*LABOUR_PARTY, shipped)[0] == POLITICS
    rugby = _codes(*RUGBY, shipped)
    assert rugby[0] == SPORT
    assert POLITICS not in rugby


def test_keyword_subtopics_sit_under_a_chosen_level_one_topic_and_below_it(shipped: TopicModel) -> None:
    taxonomy = load_taxonomy(None)
    for title, text in (WILDFIRE, DOCK_STRIKE, LABOUR_PARTY, RUGBY):
        topics = assign_topics(title, text, taxonomy, shipped)
        level1 = {t.code: t.score for t in topics if t.code in LEVEL1}
        assert 1 <= len(level1) <= 2
        for t in topics:
            if t.code not in LEVEL1:
                parent = taxonomy.ancestors(t.code)[-1]
                assert parent in level1 and t.score <= level1[parent], (t, level1)


@pytest.mark.skipif(not SEEDS.is_dir(), reason="shared seeds not present")
def test_seeds_are_politics_with_diplomacy(shipped: TopicModel) -> None:
    seeds = sorted(SEEDS.glob("*.txt"))
    assert len(seeds) == 5
    for path in seeds:
        (article,) = extract_articles(path.name, path.read_bytes(), ExtractionOptions())
        assert isinstance(article, ExtractedArticle)
        title = article.title if not article.standfirst else f"{article.title}\n{article.standfirst}"
        codes = _codes(title, article.text, shipped)
        assert codes[0] == POLITICS, (path.name, codes)
        assert DIPLOMACY & set(codes), (path.name, codes)


def test_enricher_records_the_topic_model_and_can_run_without_it(nlp: Language, shipped: TopicModel) -> None:
    article = CleanedArticle(
        article_id="a1",
        source=SourceRef(uri="test://a1", version="1", format="text", size=1, sha256="0"),
        title=WILDFIRE[0],
        text=WILDFIRE[1],
        word_count=len(WILDFIRE[1].split()),
        ingested_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    )
    taxonomy = load_taxonomy(None)
    (with_model,) = Enricher(nlp=nlp, taxonomy=taxonomy, stories=InMemoryStoryStore()).enrich_batch([article])
    assert with_model.enrichment.topic_model == shipped.name
    assert with_model.enrichment.topic_model_version == shipped.version
    assert with_model.topics[0].code == DISASTER
    keywords_only = Enricher(nlp=nlp, taxonomy=taxonomy, stories=InMemoryStoryStore(), topic_model=None)
    (without,) = keywords_only.enrich_batch([article])
    assert without.enrichment.topic_model is None and without.enrichment.topic_model_version is None


def test_scores_follow_score_py_a_missing_prediction_is_wrong_and_extra_classes_count() -> None:
    s = score_topic_predictions(["a", "a", "b", "b"], ["a", "b", None, "c"])
    assert s.accuracy == 0.25
    # a: tp 1, fn 1 -> 2/3; b: tp 0 -> 0; c: predicted only -> 0 (it still counts in the macro average)
    assert s.per_class_f1 == pytest.approx({"a": 2 / 3, "b": 0.0, "c": 0.0})
    assert s.macro_f1 == pytest.approx(2 / 9)
    assert s.confusion == {("a", "a"): 1, ("a", "b"): 1, ("b", ""): 1, ("b", "c"): 1}


def test_published_topics_keep_the_keyword_subtopics_of_the_invented_corpus(shipped: TopicModel) -> None:
    cases = json.loads((Path(__file__).resolve().parents[2] / "eval" / "enrich_corpus" / "cases.json").read_text())
    taxonomy = load_taxonomy(None)
    for case in cases["topics"]:
        codes = [t.code for t in assign_topics(case["title"], case["text"], taxonomy, shipped)]
        assert codes[0] in LEVEL1
        assert all(c in codes[:3] for c in case["expect"]), (case["id"], codes)
