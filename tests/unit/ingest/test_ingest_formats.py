"""Format detection and extraction for HTML, JSON, JSON Lines, gzip and WARC, and the bad-input catalogue."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from services.contracts import DeadLetterReason
from services.ingest.formats import (
    ExtractedArticle,
    ExtractionOptions,
    RejectedRecord,
    detect_format,
    extract_articles,
)
from services.runtime.errors import InvalidInput

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ingest"
OPTIONS = ExtractionOptions()


def _read(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _articles(results: list[ExtractedArticle | RejectedRecord]) -> list[ExtractedArticle]:
    return [r for r in results if isinstance(r, ExtractedArticle)]


def test_html_utf8_page_with_widgets_in_the_dom() -> None:
    [article] = extract_articles("festival.html", _read("festival_utf8_widgets.html"), OPTIONS)
    assert isinstance(article, ExtractedArticle)
    assert article.format == "html" and article.record is None
    assert article.title == "Lorn folk festival returns after four-year break"
    assert article.standfirst is not None and article.standfirst.startswith("Organisers expect twenty thousand")
    assert article.published_at == dt.date(2024, 7, 6)
    assert article.language == "en"
    assert article.author == "Petra Holm"
    assert article.url == "https://courier.example/culture/2024/07/06/lorn-folk-festival-returns"
    paragraphs = article.text.split("\n\n")
    # The body is whole: the standfirst opens it, once.
    assert paragraphs[0] == article.standfirst
    assert paragraphs[1].startswith("The Lorn folk festival returned")
    assert paragraphs[-1].startswith("Tickets cost half")
    assert "A new stage by the water" in paragraphs
    for junk in (
        "Share",
        "Related Articles",
        "Council approves",
        "3 Comments",
        "Finally!",
        "All rights",
        "Home",
    ):
        assert junk not in article.text


def test_html_declared_latin1_decodes_non_ascii() -> None:
    data = _read("cycle_lanes_latin1.html")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    [article] = extract_articles("radwege.htm", data, OPTIONS)
    assert isinstance(article, ExtractedArticle)
    assert article.title == "Stadtrat beschließt neue Fahrradwege für Tarn"
    assert "Bürgermeisterin Jördis Schäfer sprach von einem „wichtigen Tag" in article.text
    assert article.language == "de"
    assert article.published_at == dt.date(2023, 9, 21)
    assert "Impressum" not in article.text and "Startseite" not in article.text


def test_html_nav_only_page_is_not_an_article() -> None:
    with pytest.raises(InvalidInput) as caught:
        extract_articles("sections.html", _read("nav_only.html"), OPTIONS)
    assert caught.value.reason is DeadLetterReason.NOT_AN_ARTICLE


def test_html_date_mentioned_only_in_the_body_is_not_used() -> None:
    story = " ".join(["The committee met on March 3, 2021 to review the harbour budget in detail."] * 6)
    html = f"<html><head><title>Budget review</title></head><body><article><p>{story}</p></article></body></html>"
    [article] = extract_articles("budget.html", html.encode(), OPTIONS)
    assert isinstance(article, ExtractedArticle)
    assert article.published_at is None


def test_json_array_maps_fields_and_rejects_bad_records() -> None:
    results = extract_articles("batch.json", _read("articles.json"), OPTIONS)
    clinic, library, weather = results
    assert isinstance(clinic, ExtractedArticle) and isinstance(library, ExtractedArticle)
    assert (clinic.format, clinic.record) == ("json", 0)
    assert clinic.title == "Mobile dental clinic starts rounds in northern valleys"
    assert clinic.url == "https://valleys.example/health/mobile-dental-clinic"
    assert clinic.published_at == dt.date(2024, 2, 5)
    assert clinic.author == "Nils Berg, Ada Lund"
    assert clinic.language == "en"
    assert clinic.text.startswith("The first mobile dental clinic") and clinic.text.count("\n\n") == 3
    # The text field of the second record is HTML: cleaned like a page, comments and share widget gone.
    assert library.record == 1 and library.author == "Maja Rask"
    assert library.published_at == dt.date(2023, 11, 9)
    assert library.text.startswith("The public library in Edda reopened")
    assert "<p>" not in library.text and "Share this" not in library.text and "Great news" not in library.text
    assert isinstance(weather, RejectedRecord)
    assert (weather.record, weather.reason) == (2, DeadLetterReason.NOT_AN_ARTICLE)


def test_single_json_object_is_one_article_without_record_index() -> None:
    [article] = extract_articles("one.json", _read("single_article.json"), OPTIONS)
    assert isinstance(article, ExtractedArticle)
    assert (article.format, article.record) == ("json", None)


def test_json_lines_bad_line_is_rejected_others_extracted() -> None:
    results = extract_articles("feed.jsonl", _read("articles.jsonl"), OPTIONS)
    assert [type(r).__name__ for r in results] == ["ExtractedArticle", "RejectedRecord", "ExtractedArticle"]
    bad = results[1]
    assert isinstance(bad, RejectedRecord)
    assert (bad.record, bad.reason) == (1, DeadLetterReason.MALFORMED_JSON)
    ferry = results[2]
    assert isinstance(ferry, ExtractedArticle)
    assert (ferry.format, ferry.record, ferry.published_at) == ("jsonl", 2, dt.date(2024, 3, 1))
    assert "Notify of" not in ferry.text and "About time" not in ferry.text


def test_ndjson_extension_and_content_sniffing() -> None:
    assert detect_format("feed.ndjson", _read("articles.jsonl")) == "jsonl"
    assert detect_format("feed.json", _read("articles.jsonl")) == "jsonl"
    assert detect_format("page.txt", b"<!DOCTYPE html><html><body><p>x</p></body></html>") == "html"
    assert detect_format("README", b"Plain words here") == "text"
    assert detect_format("x.html", _read("festival_utf8_widgets.html")) == "html"


def test_gzip_is_unwrapped_and_name_suffix_dropped() -> None:
    [plain] = extract_articles("port.txt", _read("port_strike_gtag.txt"), OPTIONS)
    [unzipped] = extract_articles("port.txt.gz", _read("port_strike_gtag.txt.gz"), OPTIONS)
    assert unzipped == plain


def test_multi_member_gzip_is_read_whole() -> None:
    data = _read("port_strike_gtag.txt")
    half = len(data) // 2
    [article] = extract_articles("port.txt.gz", gzip.compress(data[:half]) + gzip.compress(data[half:]), OPTIONS)
    assert isinstance(article, ExtractedArticle)
    assert article.text.endswith("as part of the settlement.")


def test_warc_one_article_per_html_response_with_target_uri() -> None:
    results = extract_articles("CC-NEWS-sample.warc.gz", _read("ccnews_sample.warc.gz"), OPTIONS)
    festival, radwege, image, sections = results
    assert isinstance(festival, ExtractedArticle) and isinstance(radwege, ExtractedArticle)
    assert (festival.format, festival.record) == ("warc", 0)
    assert festival.url == "https://courier.example/culture/festival"
    # The page's own date, not the crawl date (2024-05-01) from WARC-Date.
    assert festival.published_at == dt.date(2024, 7, 6)
    assert radwege.record == 1 and "Jördis Schäfer" in radwege.text
    assert isinstance(image, RejectedRecord) and (image.record, image.reason) == (
        2,
        DeadLetterReason.UNSUPPORTED_FORMAT,
    )
    assert isinstance(sections, RejectedRecord) and sections.reason is DeadLetterReason.NOT_AN_ARTICLE


def test_warc_fixture_really_contains_non_response_records() -> None:
    types = [r.rec_type for r in ArchiveIterator(io.BytesIO(_read("ccnews_sample.warc.gz")))]
    assert types == ["warcinfo", "request", "response", "response", "response", "response"]


def test_uncompressed_warc_is_read_too() -> None:
    plain = gzip.decompress(_read("ccnews_sample.warc.gz"))
    assert plain.startswith(b"WARC/1.")
    assert len(_articles(extract_articles("sample.warc", plain, OPTIONS))) == 2


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.txt", DeadLetterReason.EMPTY),
        ("whitespace_only.txt", DeadLetterReason.EMPTY),
        ("image.png", DeadLetterReason.BINARY),
        ("report.pdf", DeadLetterReason.BINARY),
        ("slides.pptx", DeadLetterReason.BINARY),
        ("nul_bytes.txt", DeadLetterReason.BINARY),
        ("undecodable.txt", DeadLetterReason.UNDECODABLE),
        ("truncated.txt.gz", DeadLetterReason.TRUNCATED_COMPRESSION),
        ("malformed.json", DeadLetterReason.MALFORMED_JSON),
        ("requests_only.warc.gz", DeadLetterReason.NO_RESPONSE_RECORDS),
        ("nav_only.txt", DeadLetterReason.NOT_AN_ARTICLE),
        ("nav_only.html", DeadLetterReason.NOT_AN_ARTICLE),
        ("feed.csv", DeadLetterReason.UNSUPPORTED_FORMAT),
    ],
)
def test_bad_input_catalogue(name: str, reason: DeadLetterReason) -> None:
    with pytest.raises(InvalidInput) as caught:
        extract_articles(name, _read(name), OPTIONS)
    assert caught.value.reason is reason
    assert caught.value.detail


def test_oversized_raw_input() -> None:
    data = _read("festival_utf8_widgets.html")
    with pytest.raises(InvalidInput) as caught:
        extract_articles("festival.html", data, ExtractionOptions(max_bytes=len(data) - 1))
    assert caught.value.reason is DeadLetterReason.OVERSIZED
    assert extract_articles("festival.html", data, ExtractionOptions(max_bytes=len(data)))


def test_gzip_bomb_is_oversized_after_bounded_decompression() -> None:
    data = _read("bomb.txt.gz")
    assert len(data) < 20_000
    with pytest.raises(InvalidInput) as caught:
        extract_articles("bomb.txt.gz", data, ExtractionOptions(max_bytes=1_000_000))
    assert caught.value.reason is DeadLetterReason.OVERSIZED


def test_gz_name_without_gzip_content_is_corrupt_compression() -> None:
    with pytest.raises(InvalidInput) as caught:
        extract_articles("port.txt.gz", _read("port_strike_gtag.txt"), OPTIONS)
    assert caught.value.reason is DeadLetterReason.TRUNCATED_COMPRESSION


def test_json_lines_with_only_bad_lines_is_malformed() -> None:
    with pytest.raises(InvalidInput) as caught:
        extract_articles("feed.jsonl", b'{"title": \n{"text": "x"\n', OPTIONS)
    assert caught.value.reason is DeadLetterReason.MALFORMED_JSON


def test_json_scalar_is_malformed_and_object_without_text_not_an_article() -> None:
    with pytest.raises(InvalidInput) as scalar:
        extract_articles("x.json", b'"just a string"', OPTIONS)
    assert scalar.value.reason is DeadLetterReason.MALFORMED_JSON
    with pytest.raises(InvalidInput) as no_text:
        extract_articles("x.json", b'{"title": "Headline only"}', OPTIONS)
    assert no_text.value.reason is DeadLetterReason.NOT_AN_ARTICLE


def test_warc_record_limit_rejects_the_rest() -> None:
    results = extract_articles("s.warc.gz", _read("ccnews_sample.warc.gz"), ExtractionOptions(max_records=1))
    assert isinstance(results[0], ExtractedArticle)
    assert all(isinstance(r, RejectedRecord) and r.reason is DeadLetterReason.OVERSIZED for r in results[1:])


def test_utf16_text_with_bom_is_decoded_not_binary() -> None:
    data = _read("rail_merger_noblank.txt").decode("utf-8").encode("utf-16")
    [article] = extract_articles("rail.txt", data, OPTIONS)
    assert isinstance(article, ExtractedArticle)
    assert article.title.startswith("Northern rail operators")


def test_cp1252_text_without_declaration_is_detected() -> None:
    data = _read("rail_merger_noblank.txt").decode("utf-8").encode("cp1252")
    [article] = extract_articles("rail.txt", data, OPTIONS)
    assert isinstance(article, ExtractedArticle)
    assert "‘single network’" in (article.standfirst or "")


def test_mostly_utf8_text_with_a_stray_byte_stays_utf8() -> None:
    data = _read("rail_merger_noblank.txt").replace(b"Analysts said", b"Analysts\xff said")
    [article] = extract_articles("rail.txt", data, OPTIONS)
    assert isinstance(article, ExtractedArticle)
    assert "‘No job losses’" in article.text
    assert "\ufffd" in article.text


def test_site_description_is_not_taken_as_standfirst() -> None:
    story = "".join(
        f"<p>Paragraph {n} of the story says the harbour crane fleet grew again this year, with two new "
        "machines arriving from the southern shipyard and a third expected before the winter storms.</p>"
        for n in range(3)
    )
    page = (
        "<html><body><header class='site-header'><p class='site-description'>The independent voice of the "
        "northern harbour towns since 1921</p></header><article><h1>Cranes arrive</h1>"
        f"{story}</article></body></html>"
    )
    [article] = extract_articles("cranes.html", page.encode(), OPTIONS)
    assert isinstance(article, ExtractedArticle)
    assert article.standfirst is None or "independent voice" not in article.standfirst
    assert "independent voice" not in article.text


def test_html_title_with_site_suffix_becomes_the_printed_headline() -> None:
    story = "".join(
        f"<p>Paragraph {n} says the harbour crane fleet grew again this year, with two new machines arriving "
        "from the southern shipyard and a third expected before the winter storms close the strait.</p>"
        for n in range(3)
    )
    page = (
        "<html><head><title>Cranes arrive in Kessel | Harbour Daily</title></head>"
        f"<body><div><h1>Cranes arrive in Kessel</h1>{story}</div></body></html>"
    )
    [article] = extract_articles("cranes.html", page.encode(), OPTIONS)
    assert isinstance(article, ExtractedArticle)
    assert article.title == "Cranes arrive in Kessel"
    assert not article.text.startswith("Cranes arrive")


def test_json_body_as_list_of_paragraphs() -> None:
    paragraphs = [
        "The ferry link between Kessel and the island of Vorn will run every hour from next month, the operator "
        "said on Friday, after a new vessel passed its final safety inspection.",
        "The larger ship can carry sixty cars and four hundred passengers, doubling the capacity of the old ferry.",
    ]
    record = {"title": "Island ferry to run every hour", "body": paragraphs}
    [article] = extract_articles("ferry.json", json.dumps(record).encode(), OPTIONS)
    assert isinstance(article, ExtractedArticle)
    assert article.text == "\n\n".join(paragraphs)
