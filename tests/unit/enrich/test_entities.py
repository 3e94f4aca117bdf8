from __future__ import annotations

from spacy.language import Language

from services.contracts.events import Entity
from services.enrich.entities import VALUE_LABELS, EntityAnalysis, analyse_entities, canonical_id_for, fold_token


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


def _by_text(analysis: EntityAnalysis) -> dict[str, Entity]:
    return {text: e for e in analysis.entities for text in {e.text, e.canonical}}


def test_listed_label_cases_come_out_as_places_and_orgs(nlp: Language) -> None:
    text = (
        "Missile strikes hit Kyiv overnight, officials said.\n"
        "Kyiv asked for help. Ships were diverted from Rotterdam and London Gateway as Maersk said it would pause "
        "sailings. Marseille port workers struck, and Rotterdam stayed open."
    )
    got = _by_text(analyse_entities(nlp(text)))
    assert got["Kyiv"].label == "GPE" and got["Kyiv"].canonical_id == "place:kyiv"
    assert got["Rotterdam"].label == "GPE"
    assert got["Marseille"].label == "GPE"
    assert got["London Gateway"].label == "FAC"
    assert got["Maersk"].label == "ORG"


def test_span_edges_brackets_and_hyphens(nlp: Language) -> None:
    text = (
        "The meeting of the Foreign Ministers of the PRC and Russia was held within the framework of the "
        "Shanghai Cooperation Organisation (SCO). Forecasters at Météo-France warned of storms. "
        "Secretary of State Antony Blinken spoke. China-Russia cooperation grew."
    )
    analysis = analyse_entities(nlp(text))
    surfaces = {m.text for m in analysis.mentions}
    assert "Foreign Ministers of the" not in surfaces
    assert not any(e.label == "LAW" for e in analysis.entities)
    assert "State" not in surfaces
    assert not any("(" in s or ")" in s for s in surfaces)
    sco = _by_text(analysis)["Shanghai Cooperation Organisation"]
    assert sco.label == "ORG" and sco.count == 2  # the name and its bracketed short form
    assert {text[m.start : m.end] for m in sco.mentions} == {"Shanghai Cooperation Organisation", "SCO"}
    assert "Météo-France" in surfaces and "Météo" not in surfaces
    assert _by_text(analysis)["Météo-France"].label == "ORG"
    assert {"China", "Russia"} <= surfaces and "China-Russia" not in surfaces


def test_digits_initials_and_scripts_in_context(nlp: Language) -> None:
    text = (
        "Leaders of the G7 and the G20 met in 2022. Boeing 737 jets were grounded.\n"
        "George W. Bush and George H. W. Bush both served. Kim Jong Un met Sergey Lavrov (Сергей Лавров) "
        "and Li Qiang (李强) in Beijing."
    )
    analysis = analyse_entities(nlp(text))
    ids = {e.canonical_id for e in analysis.entities}
    assert {"org:g7", "org:g20", "product:boeing-737", "person:george-w-bush", "person:george-h-w-bush"} <= ids
    assert {"person:kim-jong-un", "person:sergi-lavrov", "person:li-qiang"} <= ids
    assert all(cid.split(":", 1)[1] for cid in ids)
    lavrov = _by_text(analysis)["Sergey Lavrov"]
    assert {text[m.start : m.end] for m in lavrov.mentions} == {"Sergey Lavrov", "Сергей Лавров"}
    assert _by_text(analysis)["Li Qiang"].label == "PERSON"


def test_numbers_and_dates_are_values_not_entities(nlp: Language) -> None:
    text = "On Tuesday, more than 700 people fled Kherson. About 1,900 flights were cancelled in 2022, Ukraine said."
    analysis = analyse_entities(nlp(text))
    assert not any(e.label in VALUE_LABELS for e in analysis.entities)
    assert not any(cid.endswith(":") for cid in (e.canonical_id for e in analysis.entities))
    values = {v.text for v in analysis.values}
    assert {"Tuesday", "2022"} <= values
    assert any("700" in v for v in values) and any("1,900" in v for v in values)
    assert all(text[v.start : v.end] == v.text for v in analysis.values)


def test_salience_weighs_title_lede_and_count(nlp: Language) -> None:
    text = (
        "Click to see full-size image\n"
        "Russian Foreign Minister Sergey Lavrov met Wang Yi in Beijing on Tuesday, more than 700 days into the war.\n"
        "Lavrov said ties were strong. Wang said China wanted peace. Lavrov left for Pyongyang. Officials from "
        "Mongolia attended."
    )
    analysis = analyse_entities(nlp(text), title="Lavrov in China")
    ranked = [e.canonical for e in analysis.entities]
    assert ranked[0] == "Sergey Lavrov"
    got = _by_text(analysis)
    assert got["Wang Yi"].salience > got["Mongolia"].salience  # lede and two mentions beat one late mention
    assert got["China"].salience > got["Mongolia"].salience  # title


def test_untagged_repeats_and_native_script_forms_join_the_name(nlp: Language) -> None:
    text = (
        "Ukrainian Foreign Minister Andrii Sybiha met Wang Yi (王毅) in Geneva.\n"
        "Sybiha said the talks were useful. US-China trade and Russia-Ukraine talks were not discussed."
    )
    analysis = analyse_entities(nlp(text))
    sybiha = _by_text(analysis)["Andrii Sybiha"]
    assert sybiha.count == 2 and sybiha.canonical_id == "person:andri-sibiha"
    wang = _by_text(analysis)["Wang Yi"]
    assert {text[m.start : m.end] for m in wang.mentions} == {"Wang Yi", "王毅"}
    surfaces = {m.text for m in analysis.mentions}
    assert "US-China" not in surfaces and "Russia-Ukraine" not in surfaces
