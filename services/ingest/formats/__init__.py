"""The extraction layer of ingest: bytes of one dropped file in, article fields out.

``extract_articles`` is pure: it reads only the bytes it is given. It detects the format from content
first and the file name second, unwraps gzip in a bounded way, and hands over to one extractor per
format. A whole file that cannot be used raises ``InvalidInput`` with a ``DeadLetterReason``; a bad
record inside an otherwise readable container comes back as a ``RejectedRecord`` in the list.
"""

from __future__ import annotations

import dataclasses
import json
import re

from services.contracts import DeadLetterReason
from services.ingest.clean import sanitise_text
from services.ingest.formats.decode import declared_html_charset, decode, gunzip_bounded, is_gzip, looks_binary
from services.ingest.formats.html import extract_html, looks_like_html
from services.ingest.formats.jsonrec import extract_json, extract_jsonl
from services.ingest.formats.model import ExtractedArticle, ExtractionOptions, RejectedRecord
from services.ingest.formats.text import extract_text
from services.ingest.formats.warc import extract_warc
from services.runtime.errors import InvalidInput

__all__ = ["ExtractedArticle", "ExtractionOptions", "RejectedRecord", "detect_format", "extract_articles"]

_EXTENSIONS = {
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".txt": "text",
    ".text": "text",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".warc": "warc",
}
_SUFFIX = re.compile(r"(\.[A-Za-z0-9]{1,10})$")


def _extension(name: str) -> str | None:
    base = name.rsplit("/", 1)[-1]
    match = _SUFFIX.search(base)
    return match.group(1).casefold() if match and match.start() > 0 else None


def _looks_like_jsonl(text: str) -> bool:
    # A pretty-printed JSON document's first line ("[" or "{") is not valid JSON on its own; a JSON
    # Lines file's first line is a complete object, followed by more lines.
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return False
    try:
        return isinstance(json.loads(lines[0]), dict)
    except json.JSONDecodeError:
        return False


def detect_format(name: str, data: bytes) -> str:
    """The format of already-unwrapped bytes: warc, html, json, jsonl or text.

    Content wins where it is unambiguous (a WARC header, an HTML document saved as .txt); otherwise the
    extension decides. Raises InvalidInput(UNSUPPORTED_FORMAT) for extensions no extractor handles
    whose content is not recognisable either.
    """
    if data.lstrip().startswith(b"WARC/"):
        return "warc"
    extension = _extension(name)
    declared = _EXTENSIONS.get(extension) if extension else None
    head = data[:4096].decode("utf-8", "ignore").lstrip("\ufeff \t\r\n")
    if declared in ("json", "jsonl"):
        # JSON Lines files get saved as .json and the other way round; the content tells.
        if declared == "json" and _looks_like_jsonl(data[:65536].decode("utf-8", "ignore")):
            return "jsonl"
        return declared
    if declared == "warc":
        return "warc"
    if looks_like_html(head):
        return "html"
    if declared is not None:
        return declared
    if head.startswith(("{", "[")):
        return "jsonl" if _looks_like_jsonl(data[:65536].decode("utf-8", "ignore")) else "json"
    if extension is None:
        return "text"
    raise InvalidInput(DeadLetterReason.UNSUPPORTED_FORMAT, f"no extractor for {extension} files")


def _strip_gz(name: str) -> str:
    return name[:-3] if name.casefold().endswith(".gz") else name


def extract_articles(name: str, data: bytes, options: ExtractionOptions) -> list[ExtractedArticle | RejectedRecord]:
    """Detect format (by content and name: .html/.htm, .txt, .json, .jsonl/.ndjson, .warc, and .gz of
    any of these), unwrap gzip, extract.

    Raises services.runtime.errors.InvalidInput(reason, detail) when the whole file is bad: EMPTY,
    BINARY, OVERSIZED (raw or decompressed), UNDECODABLE, TRUNCATED_COMPRESSION, MALFORMED_JSON,
    NO_RESPONSE_RECORDS, NOT_AN_ARTICLE, UNSUPPORTED_FORMAT.
    """
    if len(data) > options.max_bytes:
        raise InvalidInput(DeadLetterReason.OVERSIZED, f"{len(data)} bytes exceeds the limit of {options.max_bytes}")
    if not data.strip():
        raise InvalidInput(DeadLetterReason.EMPTY, "file is empty or only whitespace")
    if is_gzip(data):
        # WARC files are commonly gzipped per record; unwrapping all members gives the plain WARC,
        # which warcio reads just as well.
        data = gunzip_bounded(data, options.max_bytes)
        name = _strip_gz(name)
        if not data.strip():
            raise InvalidInput(DeadLetterReason.EMPTY, "gzip file decompresses to nothing")
    elif name.casefold().endswith(".gz"):
        raise InvalidInput(DeadLetterReason.TRUNCATED_COMPRESSION, "named .gz but has no gzip header")

    # A WARC legitimately carries binary payloads (images, PDFs), so it is recognised before the
    # binary sniff, which then applies to everything else.
    if data.lstrip().startswith(b"WARC/"):
        return _finished(extract_warc(data, options), None)
    binary = looks_binary(data)
    if binary:
        raise InvalidInput(DeadLetterReason.BINARY, f"not text: {binary}")

    fmt = detect_format(name, data)
    if fmt == "warc":
        return _finished(extract_warc(data, options), None)
    if fmt == "html":
        decoded = decode(data, declared=declared_html_charset(data))
        return _finished([extract_html(decoded.text, options)], decoded.encoding)
    decoded = decode(data)
    text = decoded.text
    if not text.strip():
        raise InvalidInput(DeadLetterReason.EMPTY, "file has only whitespace")
    if fmt == "json":
        return _finished(extract_json(text, options), decoded.encoding)
    if fmt == "jsonl":
        return _finished(extract_jsonl(text, options), decoded.encoding)
    return _finished([extract_text(text, options)], decoded.encoding)


def _finished(
    results: list[ExtractedArticle | RejectedRecord], encoding: str | None
) -> list[ExtractedArticle | RejectedRecord]:
    """Every text field sanitised (no extractor may hand on a lone surrogate or a NUL), and the
    encoding the file was read in recorded on each article."""
    finished: list[ExtractedArticle | RejectedRecord] = []
    for result in results:
        if isinstance(result, RejectedRecord):
            finished.append(result)
            continue
        fields: dict[str, object] = {
            f.name: sanitise_text(value)
            for f in dataclasses.fields(result)
            if isinstance(value := getattr(result, f.name), str) and f.name != "format"
        }
        if encoding is not None and result.encoding is None:
            fields["encoding"] = encoding
        finished.append(dataclasses.replace(result, **fields))  # type: ignore[arg-type]
    return finished
