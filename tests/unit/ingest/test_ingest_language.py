"""Language of undeclared articles: py3langid, abstaining when unsure."""

from __future__ import annotations

import pytest

from services.ingest.formats.language import detect_language, normalise_language_tag

STORIES = {
    "en": "The harbour authority said on Tuesday that the northern quay would reopen next month after "
    "engineers finished repairs to the sea wall, which was damaged in the January storms.",
    "de": "Die Hafenbehörde teilte am Dienstag mit, der nördliche Kai werde im nächsten Monat wieder "
    "geöffnet, sobald die Ingenieure die Reparaturen an der Kaimauer abgeschlossen hätten.",
    "fr": "L'autorité portuaire a annoncé mardi que le quai nord rouvrirait le mois prochain, une fois "
    "que les ingénieurs auront terminé les réparations de la digue endommagée en janvier.",
    "es": "La autoridad portuaria informó el martes que el muelle norte volverá a abrir el próximo mes, "
    "cuando los ingenieros terminen de reparar el rompeolas dañado por las tormentas de enero.",
    "ru": "Портовое управление сообщило во вторник, что северный причал откроется в следующем месяце, "
    "когда инженеры закончат ремонт волнолома, повреждённого январскими штормами и ветрами.",
}


@pytest.mark.parametrize("language", sorted(STORIES))
def test_the_language_of_a_story_is_detected(language: str) -> None:
    assert detect_language(STORIES[language]) == language


def test_short_snippets_are_not_guessed() -> None:
    assert detect_language("Harbour reopens") is None
    assert detect_language("") is None


def test_text_without_a_language_is_not_guessed() -> None:
    consonant_soup = "kxwg pztx dzbt lwkj twwt qgkg vqbd hxcm bltz qrqx sgpf cgtj lrmr vqxp wxrx knbl " * 2
    assert detect_language(consonant_soup) is None


def test_declared_tags_are_normalised() -> None:
    assert normalise_language_tag("en-GB") == "en"
    assert normalise_language_tag("DE_de") == "de"
    assert normalise_language_tag("english") is None
    assert normalise_language_tag(None) is None
