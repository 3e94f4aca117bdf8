"""The id normal form (entity_ids.py) and the gazetteer keys: pure, no spaCy."""

from __future__ import annotations

import pytest

from services.enrich.entity_ids import canonical_id_for, fold_token, transliterate
from services.enrich.gazetteer import load_gazetteer


@pytest.mark.parametrize(
    ("a", "b", "label"),
    [
        ("G7", "G20", "ORG"),
        ("Boeing 737", "Boeing 787", "PRODUCT"),
        ("George W. Bush", "George H. W. Bush", "PERSON"),
        ("Kim Jong Un", "Kim Un", "PERSON"),
        ("Сергей Лавров", "李强", "PERSON"),
    ],
)
def test_digits_initials_and_middle_names_keep_ids_apart(a: str, b: str, label: str) -> None:
    assert canonical_id_for(a, label) != canonical_id_for(b, label)


def test_ids_keep_digits_and_initials() -> None:
    assert canonical_id_for("G7", "ORG") == "org:g7"
    assert canonical_id_for("G20", "ORG") == "org:g20"
    assert canonical_id_for("Boeing 737", "PRODUCT") == "product:boeing-737"
    assert canonical_id_for("Boeing 777", "PRODUCT") == "product:boeing-777"
    assert canonical_id_for("George W. Bush", "PERSON") == "person:george-w-bush"
    assert canonical_id_for("George H. W. Bush", "PERSON") == "person:george-h-w-bush"
    assert canonical_id_for("Kim Jong Un", "PERSON") == "person:kim-jong-un"
    assert canonical_id_for("Kim Jong-un", "PERSON") == "person:kim-jong-un"


def test_cyrillic_and_cjk_names_get_distinct_readable_ids() -> None:
    cyrillic = canonical_id_for("Сергей Лавров", "PERSON")
    cjk = canonical_id_for("李强", "PERSON")
    assert cyrillic == "person:sergi-lavrov" == canonical_id_for("Sergey Lavrov", "PERSON")
    assert cjk == "person:li-qiang" == canonical_id_for("Li Qiang", "PERSON")
    assert canonical_id_for("Зеленский", "PERSON") == canonical_id_for("Zelenskyy", "PERSON") == "person:zelenski"
    assert canonical_id_for("习近平", "PERSON") == canonical_id_for("Xi Jinping", "PERSON") == "person:xi-jinping"
    assert transliterate("李强") == " Li Qiang "
    assert canonical_id_for("김정은", "PERSON") == "person:gim-jeongeun"  # Revised Romanisation, readable


def test_transliteration_variants_still_meet() -> None:
    assert fold_token("Sergey") == fold_token("Sergei") == fold_token("Sergej") == fold_token("Сергей")
    assert canonical_id_for("Sergei Lavrov", "PERSON") == canonical_id_for("Sergey Lavrov", "PERSON")
    assert canonical_id_for("Sergey Viktorovich Lavrov", "PERSON") == canonical_id_for("Sergey Lavrov", "PERSON")
    assert fold_token("Chen") != fold_token("Chan")


def test_places_share_the_gazetteer_key() -> None:
    ids = {canonical_id_for(n, "GPE") for n in ("US", "U.S.", "USA", "the United States", "United States of America")}
    assert ids == {"place:united-states"}
    assert canonical_id_for("Russian Federation", "GPE") == canonical_id_for("Russia", "GPE") == "place:russia"
    assert canonical_id_for("Republic of Korea", "GPE") == canonical_id_for("South Korea", "GPE")
    assert canonical_id_for("Kiev", "GPE") == canonical_id_for("Kyiv", "LOC") == "place:kyiv"
    assert canonical_id_for("Britain's", "GPE") == canonical_id_for("UK", "GPE") == "place:united-kingdom"


def test_short_forms_of_organisations() -> None:
    assert canonical_id_for("UN", "ORG") == canonical_id_for("United Nations", "ORG")
    assert canonical_id_for("the SCO", "ORG") == canonical_id_for("Shanghai Cooperation Organisation", "ORG")


def test_gazetteer_knows_cities_but_not_codes_or_small_towns() -> None:
    gazetteer = load_gazetteer()
    for place in ("kyiv", "rotterdam", "marseille", "london", "moscow", "beijing", "tianjin", "europe", "texas"):
        assert gazetteer.is_known_place(place), place
    for not_a_place_name in ("us", "gb", "and", "jackson", "maersk", "state"):
        assert not gazetteer.is_known_place(not_a_place_name), not_a_place_name


def test_inner_apostrophes_do_not_split_a_word() -> None:
    assert canonical_id_for("Зеленський", "PERSON") == "person:zelenski"
    assert canonical_id_for("Conor O'Brien", "PERSON") == "person:conor-obrien"
