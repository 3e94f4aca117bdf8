"""Text that used to crash ingest or come out garbled: JSON escapes of lone surrogates and NUL, invalid
UTF-8 bytes scattered in a UTF-8 file, latin-1 files, files mixing UTF-8 and latin-1."""

from __future__ import annotations

import json

import pytest

from services.ingest.clean import sanitise_text
from services.ingest.dedup import article_id_for, minhash_signature
from services.ingest.formats import ExtractedArticle, ExtractionOptions, extract_articles
from services.ingest.formats.decode import decode

OPTIONS = ExtractionOptions()
SENTENCE = "The System’s “core” service restarted twice on Tuesday, engineers said in a statement. "
LATIN = (
    "The Ångström unit is named after Anders Jonas Ångström, a Swedish physicist. Café owners in Zürich "
    "said the naïve plan for the façade would fail. "
)


def _article(name: str, data: bytes) -> ExtractedArticle:
    [article] = extract_articles(name, data, OPTIONS)
    assert isinstance(article, ExtractedArticle)
    return article


def _fits_everything_downstream(article: ExtractedArticle) -> None:
    for value in (article.title, article.text, article.standfirst or "", article.author or ""):
        value.encode("utf-8")  # no lone surrogate: Kafka, SQLite and Postgres take it
        assert "\x00" not in value  # Postgres text and jsonb refuse NUL
    article_id_for(article.text)
    minhash_signature(article.text)


@pytest.mark.parametrize("escape", ["\\udfff", "\\ud800", "\\udc80x"])
def test_a_lone_surrogate_escape_in_json_is_replaced(escape: str) -> None:
    body = (SENTENCE * 6).replace("twice", f"twice{escape}")
    data = ('{"title": "Outage', escape, '", "text": "', body, '"}')
    article = _article("outage.json", "".join(data).encode("utf-8"))
    _fits_everything_downstream(article)
    assert "\ufffd" in article.text and "\ufffd" in article.title


def test_a_nul_escape_in_json_is_removed_from_every_field() -> None:
    record = {"title": "Out\u0000age", "text": SENTENCE * 6 + "\u0000", "author": "A. Writer\u0000"}
    article = _article("outage.json", json.dumps(record).encode())
    _fits_everything_downstream(article)
    assert article.title == "Outage"


def test_sanitise_text_keeps_layout_and_replaces_what_cannot_be_stored() -> None:
    assert sanitise_text("a\udfffb\x00c\n\nd\te\x1b") == "a\ufffdbc\n\nd\te"


def test_invalid_utf8_bytes_scattered_in_a_utf8_file_do_not_garble_it() -> None:
    data = bytearray((SENTENCE * 8).encode("utf-8"))
    for position in range(40, len(data), 60):  # a damaged copy: a stray byte every 60
        data[position : position + 1] = b"\xff"
    decoded = decode(bytes(data))
    assert decoded.encoding == "utf-8+cp1252"
    for mojibake in ("тА", "‚Äô", "â€"):  # UTF-8 read as cp1251, mac-roman, cp1252
        assert mojibake not in decoded.text
    assert decoded.text.count("System’s") >= 5
    assert _article("damaged.txt", bytes(data)).encoding == "utf-8+cp1252"


def test_latin1_text_is_read_as_western_not_central_european() -> None:
    decoded = decode((LATIN * 3).encode("latin-1"))
    assert decoded.encoding == "cp1252"
    assert "Ångström" in decoded.text and "Zürich" in decoded.text
    assert "Ĺ" not in decoded.text
    assert _article("latin.txt", (LATIN * 4).encode("latin-1")).encoding == "cp1252"


def test_a_file_mixing_utf8_and_latin1_keeps_both_parts() -> None:
    data = (SENTENCE * 4).encode("utf-8") + (LATIN * 3).encode("latin-1")
    decoded = decode(data)
    assert decoded.encoding == "utf-8+cp1252"
    assert "System’s “core”" in decoded.text  # the UTF-8 part is intact
    assert "naïve plan for the façade" in decoded.text  # latin-1 letters between ASCII read as cp1252
    assert "Ã" not in decoded.text


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ((SENTENCE * 4).encode("utf-8"), "utf-8"),
        ((SENTENCE * 4).encode("utf-16"), "utf-16"),
        (b"\xef\xbb\xbf" + (SENTENCE * 4).encode("utf-8"), "utf-8-sig"),
    ],
)
def test_the_encoding_read_is_reported(data: bytes, encoding: str) -> None:
    assert decode(data).encoding == encoding
