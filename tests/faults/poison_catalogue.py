"""The poison catalogue: bad inputs as data, each with what must become of it, dropped among good files.

Every case is a file name, its bytes (or a special kind of file: a symlink, a FIFO) and the outcomes that
count as handled: a dead letter with one of ``reasons`` (at ``stage``), or ``"stored"`` (exactly one
article). ``finding`` is the number in issue 14 of a case that once stopped or garbled the pipeline (the test that
proves it fixed); ``stalls`` marks those whose failure stopped a stage (a crash loop, minutes of work),
which the suite drops only after everything else has been checked, so a regression cannot hide the rest.

The sizes assume the suite's ``INGEST_MAX_OBJECT_BYTES`` (``MAX_OBJECT_BYTES``).
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"
STORED = "stored"
MARK = "The System\u2019s clocks"  # must come out as written
MARK_LATIN1 = "\u00c5ngstr\u00f6m prize went to Mr M\u00fcller"
MAX_OBJECT_BYTES = 2_000_000


@dataclass(frozen=True)
class PoisonCase:
    name: str  # the case's name in test ids
    file_name: str  # relative to the inbox; bytes are allowed through os.fsencode
    data: bytes = b""
    reasons: frozenset[str] = field(default_factory=frozenset)  # acceptable outcomes (reasons, or STORED)
    stage: str = "ingest"
    kind: str = "file"  # file | symlink | fifo | slow_append
    must_contain: str | None = None  # when stored: text the stored body must hold (decoded right)
    finding: int | None = None  # the issue 14 finding this case proves fixed
    stalls: bool = False


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _article(sentence: str, words: int = 120) -> str:
    """An invented news article of about ``words`` words whose last sentence is ``sentence``."""
    body = (
        "The regional council voted on Tuesday to extend the harbour ferry service through the winter, "
        "after months of complaints from commuters who said the reduced timetable left them stranded. "
        "Council member Dana Whitfield said the decision would cost about two million a year. "
        "Residents of the island districts had petitioned for the change since the spring. "
    )
    text = (body * (words // len(body.split()) + 1)).split()
    return f"Ferry service extended through winter\n\n{' '.join(text[:words])} {sentence}\n"


def _zip_bytes() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("article.txt", _article("Zipped."))
    return buffer.getvalue()


def _warc(records: list[tuple[str, bytes]]) -> bytes:
    out = b""
    for warc_type, payload in records:
        out += (
            b"WARC/1.0\r\nWARC-Type: " + warc_type.encode() + b"\r\nWARC-Target-URI: https://example.org/a\r\n"
            b"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-000000000001>\r\n"
            b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload + b"\r\n\r\n"
        )
    return out


def _reasons(*names: str) -> frozenset[str]:
    return frozenset(names)


_REPORT_SENTENCES = (f"Council{n % 89} voted again on matter {n % 613}." for n in range(30_000))
_ONE_POINT_ONE_MILLION = " ".join(_REPORT_SENTENCES)[:1_100_000]  # characters, under the 2 MB object limit
_900_KB = _ONE_POINT_ONE_MILLION[:900_000]


CATALOGUE: list[PoisonCase] = [
    # -- already refused today ----------------------------------------------------------------------------
    PoisonCase("empty_txt", "p-empty.txt", b"", _reasons("empty")),
    PoisonCase("whitespace_only", "p-whitespace.txt", b"  \n\t \r\n  \n", _reasons("empty")),
    PoisonCase("empty_json", "p-empty.json", b"", _reasons("empty")),
    PoisonCase("empty_html", "p-empty.html", b"\n\n", _reasons("empty")),
    PoisonCase("gzip_of_nothing", "p-nothing.txt.gz", _gzip(b""), _reasons("empty")),
    PoisonCase("nul_bytes", "p-nul.txt", _fixture("nul_bytes.txt"), _reasons("binary")),
    PoisonCase("png_as_txt", "p-image.txt", _fixture("image.png"), _reasons("binary")),
    PoisonCase("png", "p-image.png", _fixture("image.png"), _reasons("binary", "unsupported_format")),
    PoisonCase("pdf", "p-report.pdf", _fixture("report.pdf"), _reasons("binary", "unsupported_format")),
    PoisonCase("pptx", "p-slides.pptx", _fixture("slides.pptx"), _reasons("binary", "unsupported_format")),
    PoisonCase("zip_as_txt", "p-archive.txt", _zip_bytes(), _reasons("binary")),
    PoisonCase("gzip_of_png", "p-image.txt.gz", _gzip(_fixture("image.png")), _reasons("binary")),
    PoisonCase("random_junk", "p-junk.txt", bytes((n * 151 + 7) % 256 for n in range(4096)), _reasons("binary")),
    PoisonCase("gzip_bomb", "p-bomb.txt.gz", _fixture("bomb.txt.gz"), _reasons("oversized")),
    PoisonCase("truncated_gzip", "p-truncated.txt.gz", _fixture("truncated.txt.gz"), _reasons("truncated_compression")),
    PoisonCase(
        "corrupt_gzip",
        "p-corrupt.txt.gz",
        b"\x1f\x8b\x08\x00" + b"\x00" * 6 + b"garbage",
        _reasons("truncated_compression"),
    ),
    PoisonCase(
        "gzip_cut_in_half",
        "p-half.html.gz",
        _gzip(_article("Half.").encode())[:60],
        _reasons("truncated_compression"),
    ),
    PoisonCase("malformed_json", "p-malformed.json", _fixture("malformed.json"), _reasons("malformed_json")),
    PoisonCase("json_unclosed", "p-unclosed.json", b'{"title": "A", "text": "B', _reasons("malformed_json")),
    PoisonCase("json_number", "p-number.json", b"42", _reasons("malformed_json", "not_an_article")),
    PoisonCase("json_list_of_numbers", "p-numbers.json", b"[1, 2, 3]", _reasons("malformed_json", "not_an_article")),
    PoisonCase("json_empty_object", "p-object.json", b"{}", _reasons("malformed_json", "not_an_article")),
    PoisonCase(
        "json_wrong_shape",
        "p-shape.json",
        json.dumps({"headline": 7, "content": ["not", "text"]}).encode(),
        _reasons("malformed_json", "not_an_article"),
    ),
    PoisonCase("jsonl_all_bad", "p-bad.jsonl", b"{nope\n{also not\n", _reasons("malformed_json")),
    PoisonCase("nav_only_html", "p-nav.html", _fixture("nav_only.html"), _reasons("not_an_article")),
    PoisonCase("nav_only_text", "p-nav.txt", _fixture("nav_only.txt"), _reasons("not_an_article")),
    PoisonCase("too_short", "p-short.txt", b"Breaking: more soon.\n", _reasons("not_an_article")),
    PoisonCase("only_punctuation", "p-dots.txt", b". , ; : ! ? - " * 50, _reasons("not_an_article")),
    PoisonCase(
        "script_only_html",
        "p-script.html",
        b"<html><head><script>var a = 1;</script></head><body><script>go()</script></body></html>",
        _reasons("not_an_article"),
    ),
    PoisonCase("csv", "p-feed.csv", _fixture("feed.csv"), _reasons("unsupported_format")),
    PoisonCase("undecodable", "p-undecodable.txt", _fixture("undecodable.txt"), _reasons("undecodable", "binary")),
    PoisonCase(
        "warc_requests_only", "p-requests.warc.gz", _fixture("requests_only.warc.gz"), _reasons("no_response_records")
    ),
    PoisonCase(
        "warc_metadata_only",
        "p-metadata.warc",
        _warc([("metadata", b"software: test\r\n"), ("request", b"GET / HTTP/1.1\r\n\r\n")]),
        _reasons("no_response_records"),
    ),
    PoisonCase(
        "huge_file",
        "p-huge.txt",
        (_article("Huge.") * 10_000).encode()[:2_500_000],
        _reasons("oversized"),
    ),
    PoisonCase(
        "deflate_not_gzip",
        "p-deflate.txt.gz",
        zlib.compress(_article("Deflate.").encode()),
        _reasons("truncated_compression"),
    ),
    # -- issue 14 findings: these broke the pipeline before ------------------------------------------------
    PoisonCase("symlink", "p-link.txt", b"", _reasons("not_a_regular_file"), kind="symlink", finding=10),
    PoisonCase("fifo", "p-pipe.txt", b"", _reasons("not_a_regular_file"), kind="fifo", finding=10),
    PoisonCase(
        "dotdot_name",
        "..p-hidden.txt",
        _article("Hidden name.").encode(),
        _reasons("hidden_name"),
        finding=10,
    ),
    PoisonCase(
        "nul_json_escape",
        "p-nul-escape.json",
        json.dumps({"title": "Ferry", "text": _article("Nul \u0000 here.")}).encode(),
        _reasons(STORED),  # the NUL is removed at ingest (Postgres text cannot hold it)
        finding=9,
    ),
    PoisonCase(
        "scattered_invalid_utf8",
        "p-scattered.txt",
        _article("The System\u2019s clocks were reset.").encode().replace(b"ferry", b"f\xffrry", 3),
        _reasons(STORED),
        must_contain=MARK,
        finding=8,
    ),
    PoisonCase(
        "latin1_text",
        "p-latin1.txt",
        _article("The \u00c5ngstr\u00f6m prize went to Mr M\u00fcller.").encode("latin-1"),
        _reasons(STORED),
        must_contain=MARK_LATIN1,
        finding=8,
    ),
    PoisonCase(
        "slowly_appended",
        "p-slow.txt",
        _article("Appended slowly.", words=300).encode(),
        _reasons(STORED),
        kind="slow_append",
        finding=7,
    ),
    # -- a stage stopped on them before: dropped last --------------------------------------------------
    PoisonCase(
        "non_utf8_name",
        "caf\udce9.txt",
        _article("Odd name.").encode(),
        _reasons(STORED),
        finding=1,
        stalls=True,
    ),
    PoisonCase(
        "lone_surrogate_json",
        "p-surrogate.json",
        b'{"title": "Ferry", "text": "' + _article("Lone \\udfff surrogate.").encode().replace(b"\n", b" ") + b'"}',
        _reasons(STORED),  # the lone surrogate becomes U+FFFD
        finding=2,
        stalls=True,
    ),
    PoisonCase(
        "cleaned_over_a_million_chars",
        "p-million.txt",
        ("Long article\n\n" + _ONE_POINT_ONE_MILLION + "\n").encode(),
        _reasons("oversized"),
        finding=4,
        stalls=True,
    ),
    PoisonCase(
        "article_of_900_kb",
        "p-900k.txt",
        ("Long council report\n\n" + _900_KB + "\n").encode(),
        _reasons("oversized"),
        stage="enrich",
        finding=5,
        stalls=True,
    ),
]
