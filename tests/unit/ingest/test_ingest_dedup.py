"""Article identity and near-duplicate detection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from services.ingest.dedup import CANDIDATE_PAGE, NearDuplicateIndex, article_id_for, normalise_for_identity
from services.ingest.ledger import Ledger

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


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    yield ledger
    ledger.close()


def test_lightly_edited_wire_copy_is_found(ledger: Ledger) -> None:
    index = NearDuplicateIndex(ledger)
    index.add("wire", index.signature(WIRE))
    index.add("prize", index.signature(UNRELATED))
    assert index.find(index.signature(_edited_copy(WIRE))) == "wire"


def test_unrelated_text_is_not_a_duplicate(ledger: Ledger) -> None:
    index = NearDuplicateIndex(ledger)
    index.add("wire", index.signature(WIRE))
    assert index.find(index.signature(UNRELATED)) is None


def test_earliest_added_article_is_returned(ledger: Ledger) -> None:
    index = NearDuplicateIndex(ledger)
    index.add("first", index.signature(WIRE))
    index.add("second", index.signature(_edited_copy(WIRE)))
    index.add("first", index.signature(UNRELATED))  # re-adding an id keeps its first signature
    assert index.find(index.signature(WIRE)) == "first"
    assert index.find(index.signature(UNRELATED)) is None


def test_signature_is_deterministic_bytes_across_instances(tmp_path: Path, ledger: Ledger) -> None:
    other = Ledger(tmp_path / "other.sqlite3")
    try:
        first, second = NearDuplicateIndex(ledger), NearDuplicateIndex(other)
        signature = first.signature(WIRE)
        assert isinstance(signature, bytes) and len(signature) == 128 * 8
        assert signature == second.signature(WIRE)
        assert first.band_keys(signature) == second.band_keys(signature)
        second.add("wire", signature)
        assert second.find(first.signature(WIRE)) == "wire"
    finally:
        other.close()


def test_signature_of_wrong_size_is_refused(ledger: Ledger) -> None:
    index = NearDuplicateIndex(ledger, num_perm=64)
    with pytest.raises(ValueError, match="expected 512"):
        index.add("x", NearDuplicateIndex(ledger).signature(WIRE))


def test_empty_index_finds_nothing(ledger: Ledger) -> None:
    index = NearDuplicateIndex(ledger)
    assert index.find(index.signature(WIRE)) is None


def test_the_index_lives_in_the_ledger_and_survives_a_restart(tmp_path: Path) -> None:
    """Issue 14: an in-memory index grew ingest by 100 MB over a 25,000-file burst, and a window of the
    most recent articles forgot older ones. The ledger keeps every signature; a restarted ingest finds
    articles its previous run saw, without loading them."""
    path = tmp_path / "ledger.sqlite3"
    first_run = Ledger(path)
    NearDuplicateIndex(first_run).add("wire", NearDuplicateIndex(first_run).signature(WIRE))
    first_run.close()
    restarted = Ledger(path)
    try:
        index = NearDuplicateIndex(restarted)
        assert index.find(index.signature(_edited_copy(WIRE))) == "wire"
    finally:
        restarted.close()


def test_another_banding_rebuilds_the_stored_band_keys(ledger: Ledger) -> None:
    strict = NearDuplicateIndex(ledger, threshold=0.9)
    strict.add("wire", strict.signature(WIRE))
    loose = NearDuplicateIndex(ledger, threshold=0.5)  # other bands: the stored keys are recomputed
    assert loose.scheme != strict.scheme and ledger.band_scheme() == loose.scheme
    assert loose.find(loose.signature(_edited_copy(WIRE))) == "wire"


def test_a_match_behind_a_page_of_band_collisions_is_found(ledger: Ledger) -> None:
    """Candidates are read a page at a time, earliest first (a flood of near copies matches on the first
    page); a match behind more than a page of collisions that fail the threshold is still found."""
    index = NearDuplicateIndex(ledger)
    rng = np.random.default_rng(5)
    base = rng.integers(0, 2**32, size=128, dtype=np.uint64)
    for n in range(CANDIDATE_PAGE + 6):  # share the first band with base, nothing else: similarity ~5/128
        collision = rng.integers(0, 2**32, size=128, dtype=np.uint64)
        collision[:5] = base[:5]
        index.add(f"collision-{n}", collision.astype("<u8").tobytes())
    near = base.copy()
    near[100] ^= 1
    index.add("near-copy", near.astype("<u8").tobytes())
    assert index.find(base.astype("<u8").tobytes()) == "near-copy"
