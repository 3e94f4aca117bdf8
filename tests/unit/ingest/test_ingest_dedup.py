"""Article identity and near-duplicate detection."""

from __future__ import annotations

import pytest

from services.ingest.dedup import NearDuplicateIndex, article_id_for, normalise_for_identity

WIRE = (
    "KESSEL, June 14 – Dock workers at the port of Kessel voted on Tuesday to end a twelve-day "
    "strike that had left more than forty container ships waiting offshore and emptied supermarket "
    "shelves across the northern provinces.\n\n"
    "The agreement gives workers a pay rise of six percent this year and four percent next year, "
    "along with a new shift rota that union members had demanded since the spring, the union said in "
    "a statement.\n\n"
    "Port director Emil Sarto told reporters that the first ships would berth overnight and that the "
    "authority expected the backlog to clear within a fortnight if the weather held and no further "
    "disputes broke out.\n\n"
    "Hanna Roos, who leads the dockers’ union, said members had accepted the offer by a large "
    "majority. “This is a fair and lasting deal, and it shows what workers can win when they stand "
    "together,” she said.\n\n"
    "Shipping companies had warned that a longer stoppage would force them to divert cargo to rival "
    "ports in the south, a move that local officials said could have cost the region thousands of "
    "jobs in logistics and transport.\n\n"
    "The regional government, which mediated the final round of talks, said it would review safety "
    "rules at the container terminals next year as part of the settlement reached with the union and "
    "the port authority."
)

UNRELATED = (
    "Two marine biologists from the University of Tarn have won this year’s Lindqvist Prize for "
    "discovering cold-water corals that thrive in water far more acidic than scientists thought "
    "possible, the committee said. The pair spent eleven years surveying reefs in the fjords of the "
    "northern coast, diving in winter storms and logging water samples by hand when their "
    "instruments failed, and will use the prize money to fund a monitoring station."
)


def _edited_copy(text: str) -> str:
    # What an outlet does to a wire story: drops the dateline, retouches two phrases, adds a line.
    edited = text.replace("KESSEL, June 14 – ", "").replace("on Tuesday", "this week")
    edited = edited.replace("the union said in a statement", "according to a union statement")
    return edited + "\n\nThe port authority did not respond to a request for comment."


def test_normalise_for_identity_folds_case_quotes_dashes_and_space() -> None:
    assert normalise_for_identity("“Fair”  deal –\n‘now’ ＡＢＣ") == "\"fair\" deal - 'now' abc"


def test_exact_duplicate_with_cosmetic_differences_has_same_id() -> None:
    variant = WIRE.upper().replace("“", '"').replace("”", '"').replace(" ", "  ").replace("–", "-")
    assert article_id_for(WIRE) == article_id_for(variant)
    assert len(article_id_for(WIRE)) == 32
    assert int(article_id_for(WIRE), 16) >= 0


def test_different_text_has_different_id() -> None:
    assert article_id_for(WIRE) != article_id_for(_edited_copy(WIRE))


def test_lightly_edited_wire_copy_is_found() -> None:
    index = NearDuplicateIndex()
    index.add("wire", index.signature(WIRE))
    index.add("prize", index.signature(UNRELATED))
    assert index.find(index.signature(_edited_copy(WIRE))) == "wire"


def test_unrelated_text_is_not_a_duplicate() -> None:
    index = NearDuplicateIndex()
    index.add("wire", index.signature(WIRE))
    assert index.find(index.signature(UNRELATED)) is None


def test_earliest_added_article_is_returned() -> None:
    index = NearDuplicateIndex()
    index.add("first", index.signature(WIRE))
    index.add("second", index.signature(_edited_copy(WIRE)))
    index.add("first", index.signature(UNRELATED))  # re-adding an id keeps its first signature
    assert index.find(index.signature(WIRE)) == "first"
    assert len(index) == 2


def test_signature_is_deterministic_bytes_across_instances() -> None:
    first, second = NearDuplicateIndex(), NearDuplicateIndex()
    signature = first.signature(WIRE)
    assert isinstance(signature, bytes) and len(signature) == 128 * 8
    assert signature == second.signature(WIRE)
    second.add("wire", signature)
    assert second.find(first.signature(WIRE)) == "wire"


def test_signature_of_wrong_size_is_refused() -> None:
    index = NearDuplicateIndex(num_perm=64)
    with pytest.raises(ValueError, match="expected 512"):
        index.add("x", NearDuplicateIndex().signature(WIRE))


def test_empty_index_finds_nothing() -> None:
    index = NearDuplicateIndex()
    assert index.find(index.signature(WIRE)) is None


def test_the_index_keeps_only_the_most_recent_articles() -> None:
    """Issue 14: the index held every article ever seen, and ingest grew by 100 MB over a 25,000-file burst."""
    index = NearDuplicateIndex(capacity=2)
    index.add("first", index.signature(WIRE))
    index.add("second", index.signature(_edited_copy(WIRE)))
    index.add("prize", index.signature(UNRELATED))  # over capacity: "first" is forgotten
    assert len(index) == 2
    assert index.find(index.signature(WIRE)) == "second"  # the earliest still kept
    index.add("third", index.signature(UNRELATED + " Again."))
    assert index.find(index.signature(WIRE)) is None
