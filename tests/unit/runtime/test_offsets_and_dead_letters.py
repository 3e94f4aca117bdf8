"""Pure pieces of the runtime: committable offsets, deterministic dead letters, source filters."""

from __future__ import annotations

from services.contracts import DeadLetterReason, SourceRef, Stage
from services.ingest.sources import is_hidden_name, is_temporary_name
from services.runtime import deadletters
from services.runtime.messages import ConsumedMessage, TopicPartition, committable_offsets


def message(partition: int, offset: int, value: bytes | None = b"{}") -> ConsumedMessage:
    return ConsumedMessage("articles.cleaned", partition, offset, b"k", value)


def test_committable_offset_is_the_next_offset_to_read_per_partition() -> None:
    batch = [message(0, 5), message(1, 0), message(0, 7), message(0, 6)]
    assert committable_offsets(batch) == {
        TopicPartition("articles.cleaned", 0): 8,
        TopicPartition("articles.cleaned", 1): 1,
    }


def test_a_redelivered_failure_is_the_same_dead_letter() -> None:
    first = deadletters.for_message(Stage.ENRICH, DeadLetterReason.INVALID_EVENT, "bad", message(2, 9, b"x"))
    again = deadletters.for_message(Stage.ENRICH, DeadLetterReason.INVALID_EVENT, "bad", message(2, 9, b"x"))
    other = deadletters.for_message(Stage.ENRICH, DeadLetterReason.INVALID_EVENT, "bad", message(2, 10, b"x"))
    assert first.dead_letter_id == again.dead_letter_id != other.dead_letter_id
    assert first.original is not None and first.original.value == "x" and first.original.offset == 9


def test_huge_values_are_truncated_in_the_dead_letter_not_dropped() -> None:
    letter = deadletters.for_message(Stage.STORE, DeadLetterReason.INVALID_EVENT, "bad", message(0, 0, b"a" * 100_000))
    assert letter.original is not None and letter.original.value is not None
    assert len(letter.original.value) == deadletters.MAX_EMBEDDED_VALUE_CHARS


def test_dead_letters_are_keyed_by_article_then_source() -> None:
    source = SourceRef(uri="s3://b/a.txt", version="e1", format="text", size=0, sha256="")
    by_source = deadletters.for_source(Stage.INGEST, DeadLetterReason.EMPTY, "empty", source, None)
    assert deadletters.key_of(by_source) == "s3://b/a.txt"
    by_article = deadletters.for_message(
        Stage.STORE, DeadLetterReason.INVALID_EVENT, "x", message(0, 1), article_id="abc"
    )
    assert deadletters.key_of(by_article) == "abc"


def test_temporary_and_partial_uploads_are_recognised() -> None:
    for name in (".x.txt.swp", "draft.txt~", "a/b/upload.html.part", "x.crdownload", "~lock.docx", "f.tmp"):
        assert is_temporary_name(name), name
    for name in (".hidden.txt", "..foo.txt", "a/.notes.json"):  # refused with a dead letter instead
        assert not is_temporary_name(name) and is_hidden_name(name), name
    for name in ("story.txt", "2026/11/24/feed.jsonl.gz", "page.html"):
        assert not is_temporary_name(name), name


def test_nul_bytes_in_poison_are_replaced_so_the_dead_letter_can_be_stored() -> None:
    letter = deadletters.for_message(Stage.STORE, DeadLetterReason.INVALID_EVENT, "bad", message(0, 3, b"a\x00b"))
    assert letter.original is not None and letter.original.value == "a\ufffdb"
