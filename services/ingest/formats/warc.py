"""WARC archives (CC-NEWS and similar crawls): one article per ``response`` record with an HTML payload.

The record index counts response records only (0 = first response), so it stays stable whatever
request/metadata records a crawler interleaves. The URL is WARC-Target-URI; the date comes from the
page, never from WARC-Date, which is when the crawler fetched it.
"""

from __future__ import annotations

import io

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from services.contracts import DeadLetterReason
from services.ingest.formats.decode import decode_text, looks_binary
from services.ingest.formats.html import decode_html, extract_html
from services.ingest.formats.model import ExtractedArticle, ExtractionOptions, RejectedRecord
from services.runtime.errors import InvalidInput

__all__ = ["extract_warc"]

_HTML_TYPES = ("text/html", "application/xhtml+xml")


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().casefold() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def _response_article(
    payload: bytes, content_type: str, url: str | None, index: int, options: ExtractionOptions
) -> ExtractedArticle | RejectedRecord:
    mime = content_type.split(";")[0].strip().casefold()
    if mime and mime not in _HTML_TYPES:
        return RejectedRecord(index, DeadLetterReason.UNSUPPORTED_FORMAT, f"response payload is {mime}, not HTML")
    if not payload.strip():
        return RejectedRecord(index, DeadLetterReason.EMPTY, "response payload is empty")
    if len(payload) > options.max_bytes:
        return RejectedRecord(index, DeadLetterReason.OVERSIZED, f"payload larger than {options.max_bytes} bytes")
    binary = looks_binary(payload)
    if binary:
        return RejectedRecord(index, DeadLetterReason.BINARY, f"response payload is binary: {binary}")
    try:
        # The HTTP header's charset is the server's statement; the page's own <meta> is the fallback.
        charset = _charset(content_type)
        html = decode_text(payload, declared=charset) if charset else decode_html(payload)
        return extract_html(html, options, fmt="warc", record=index, url=url)
    except InvalidInput as exc:
        return RejectedRecord(index, exc.reason, exc.detail)


def extract_warc(data: bytes, options: ExtractionOptions) -> list[ExtractedArticle | RejectedRecord]:
    """All response records of a WARC (plain or per-record gzip). Raises InvalidInput when the archive
    has no response records (NO_RESPONSE_RECORDS) or cannot be read at all (UNSUPPORTED_FORMAT)."""
    results: list[ExtractedArticle | RejectedRecord] = []
    responses = 0
    try:
        for record in ArchiveIterator(io.BytesIO(data), arc2warc=True):
            if record.rec_type != "response":
                continue
            index = responses
            responses += 1
            if index >= options.max_records:
                results.append(
                    RejectedRecord(index, DeadLetterReason.OVERSIZED, f"more than {options.max_records} responses")
                )
                continue
            url = record.rec_headers.get_header("WARC-Target-URI") or None
            content_type = ""
            if record.http_headers is not None:
                content_type = record.http_headers.get_header("Content-Type") or ""
            payload = record.content_stream().read(options.max_bytes + 1)
            results.append(_response_article(payload, content_type, url, index, options))
    except ArchiveLoadFailed as exc:
        if responses == 0:
            raise InvalidInput(DeadLetterReason.UNSUPPORTED_FORMAT, f"not a readable WARC: {exc}") from exc
        # A damaged tail after good records: keep what was read and reject the rest as one record.
        results.append(RejectedRecord(responses, DeadLetterReason.TRUNCATED_COMPRESSION, f"WARC ends early: {exc}"))
    if responses == 0:
        raise InvalidInput(DeadLetterReason.NO_RESPONSE_RECORDS, "WARC contains no response records")
    return results
