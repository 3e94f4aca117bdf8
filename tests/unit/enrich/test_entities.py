from __future__ import annotations

from spacy.language import Language

from services.enrich.entities import analyse_entities, canonical_id_for, fold_token


def test_fold_token_merges_transliteration_variants() -> None:
    assert fold_token("Sergey") == fold_token("Sergei") == fold_token("Sergej")
    assert fold_token("Zelensky") == fold_token("Zelenskyy") == fold_token("Zelenskiy")
    assert fold_token("Alexei") == fold_token("Aleksey")
    assert fold_token("Chen") != fold_token("Chan")


def test_person_id_uses_given_name_and_surname() -> None:
    assert canonical_id_for("Sergey Lavrov", "PERSON") == canonical_id_for("Sergei Lavrov", "PERSON")
    assert canonical_id_for("Sergey Viktorovich Lavrov", "PERSON") == canonical_id_for("Sergey Lavrov", "PERSON")
    assert canonical_id_for("Wang Yi", "PERSON") != canonical_id_for("Wang Wenbin", "PERSON")


def test_place_aliases_and_articles() -> None:
    assert canonical_id_for("the United States", "GPE") == canonical_id_for("US", "GPE") == "place:united-states"
    assert canonical_id_for("Moscow", "GPE") == canonical_id_for("Moscow", "LOC")


def test_surname_resolves_to_full_name_with_offsets(nlp: Language) -> None:
    text = (
        "Foreign Minister Alexei Morozov arrived in Hanoi on Tuesday.\nMorozov met the president. Morozov left at noon."
    )
    analysis = analyse_entities(nlp(text))
    person = next(e for e in analysis.entities if e.canonical == "Alexei Morozov")
    assert person.label == "PERSON"
    assert person.count == 3
    assert all(text[m.start : m.end] in ("Alexei Morozov", "Morozov") for m in person.mentions)
    assert 0.0 < person.salience <= 1.0
    assert person.salience == max(e.salience for e in analysis.entities)


def test_shared_surname_uses_role_context(nlp: Language) -> None:
    text = (
        "Foreign Minister Chen Hao arrived in Nairobi on Tuesday.\n"
        "At the daily briefing, Foreign Ministry spokesperson Chen Lin said the trip was long planned. "
        "The spokesperson Chen repeated that no loans would be announced."
    )
    analysis = analyse_entities(nlp(text))
    bare = [m for m in analysis.mentions if m.text == "Chen"]
    assert bare and all(m.canonical == "Chen Lin" for m in bare)


def test_no_person_invented_from_line_spanning_spans(nlp: Language) -> None:
    analysis = analyse_entities(nlp("The meeting ended.\n\nJames\n\nLol, nothing changes."))
    assert all("\n" not in e.text for e in analysis.entities)
