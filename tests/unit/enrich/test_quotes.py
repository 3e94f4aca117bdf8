from __future__ import annotations

import pytest
from spacy.language import Language

from services.contracts.events import QuoteKind
from services.enrich.entities import analyse_entities
from services.enrich.quotes import extract_quotes, find_quote_spans


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("He said “we will win the vote” on Monday.", "we will win the vote"),
        ('He said "we will win the vote" on Monday.', "we will win the vote"),
        ("Er sagte „wir werden gewinnen“ gestern.", "wir werden gewinnen"),
        ("«Nous allons gagner,» – a-t-il dit.", "Nous allons gagner"),
        ("The coach called it ‘a bad day for China’s team’ after the match.", "a bad day for China’s team"),
    ],
)
def test_quote_styles(text: str, quoted: str) -> None:
    spans = find_quote_spans(text)
    assert [s.text for s in spans] == [quoted]
    assert text[spans[0].start : spans[0].end].startswith(quoted[:5])


def test_apostrophes_are_not_quotes() -> None:
    assert find_quote_spans("China’s minister met Russia’s envoy in the ’90s style hall.") == []


def test_quote_continues_across_paragraphs() -> None:
    text = "“The first part ends here.\n“And the second part closes it,” she said."
    [span] = find_quote_spans(text)
    assert span.text == "The first part ends here. And the second part closes it"
    assert span.start == 1
    assert text[span.end - 2 : span.end] == "it"


def _quotes(nlp: Language, text: str) -> list[tuple[str, str | None, QuoteKind]]:
    doc = nlp(text)
    return [(q.text, q.speaker, q.kind) for q in extract_quotes(doc, analyse_entities(doc))]


def test_speaker_after_and_before(nlp: Language) -> None:
    text = (
        "Foreign Minister Alexei Morozov arrived in Hanoi.\n"
        "“We came here to build trust between our nations,” Morozov said.\n"
        'Senator Dana Whitfield told reporters that "these measures will hurt farmers more than anyone."'
    )
    got = _quotes(nlp, text)
    assert got[0] == ("We came here to build trust between our nations", "Alexei Morozov", QuoteKind.FULL)
    assert got[1][1] == "Dana Whitfield"


def test_pronoun_resolves_to_last_subject_not_last_mention(nlp: Language) -> None:
    text = (
        "Chinese Foreign Minister Chen Hao met Russian Foreign Minister Alexei Morozov.\n"
        "Chen praised the talks. He agreed with Morozov's view by saying, "
        "“China is ready to take our ties to a higher level in a new era.”"
    )
    got = _quotes(nlp, text)
    assert got[-1][1] == "Chen Hao"


def test_dash_attribution_and_unnamed_source(nlp: Language) -> None:
    text = (
        "«Our positions are very close on every regional question,» – "
        "said ministry spokeswoman Irina Belova.\n"
        "A State Department spokesman described the meeting as useful.\n"
        "“We expect all parties to respect the ceasefire now.”"
    )
    got = _quotes(nlp, text)
    assert got[0][1] == "Irina Belova"
    assert got[1][1] == "A State Department spokesman"


def test_scare_quote_is_a_term_without_speaker(nlp: Language) -> None:
    got = _quotes(nlp, "The opposition called the plan a “cosmetic exercise” and demanded a vote.")
    assert got == [("cosmetic exercise", None, QuoteKind.TERM)]


def test_confidence_is_lower_for_inherited_than_direct(nlp: Language) -> None:
    doc = nlp(
        "“The world expects calm from both of us,” Ana Ruiz said at the start.\n"
        "“Nobody wins a trade war, and everybody pays for one in the end.”"
    )
    qs = extract_quotes(doc, analyse_entities(doc))
    assert [q.speaker for q in qs] == ["Ana Ruiz", "Ana Ruiz"]
    assert qs[0].confidence > qs[1].confidence


def test_titles_and_nicknames_are_not_quotes(nlp: Language) -> None:
    text = (
        "Writer Anna Keller won the prize for “The Glass Orchard,” her second novel.\n"
        "Striker Leon “The Rocket” Bauer scored twice.\n"
        "“I did not expect this at all,” Keller said."
    )
    assert [q[0] for q in _quotes(nlp, text)] == ["I did not expect this at all"]


def test_scare_quote_about_a_group_has_no_speaker(nlp: Language) -> None:
    text = "Opponents say the “dialogue” with residents lasted a week."
    assert _quotes(nlp, text) == [("dialogue", None, QuoteKind.TERM)]


def test_short_standalone_sentence_is_full(nlp: Language) -> None:
    text = "“We offered a fair deal to everyone involved,” union chief Karl Brandt said. “They refused.”"
    assert _quotes(nlp, text)[1] == ("They refused.", "Karl Brandt", QuoteKind.FULL)


def test_pronoun_follows_previous_sentence_subject(nlp: Language) -> None:
    text = (
        "Senator Paul Grant and his rival Mark Hill met in a debate on Friday.\n"
        "Hill criticised the budget. “It is a disaster,” he said.\n"
        "Grant smiled at the audience. “My opponent has never read it,” he replied."
    )
    assert [q[1] for q in _quotes(nlp, text)] == ["Mark Hill", "Paul Grant"]


def test_wire_style_double_apostrophes_are_quotes() -> None:
    text = "''The harbour will reopen in spring,'' Mr. Ruiz said. ''Boats can't wait.''"
    assert [s.text for s in find_quote_spans(text)] == [
        "The harbour will reopen in spring",
        "Boats can't wait.",
    ]


def test_curly_opener_closed_by_straight_mark_stops_there() -> None:
    text = 'She said: “We are done here." Then she left. Later “nothing else” happened.'
    assert [s.text for s in find_quote_spans(text)] == ["We are done here.", "nothing else"]


def test_lemma_list_gives_every_cue_form() -> None:
    from services.enrich.quotes.lexicon import load_lexicon

    forms = set(load_lexicon().cue_forms(after_quote=True))
    assert {"said", "says", "told", "tweeted", "wrote", "insists", "continued"} <= forms


def test_quote_after_that_is_partial_with_its_speaker(nlp: Language) -> None:
    text = "Senator Dana Whitfield told reporters that “these measures will hurt farmers more than anyone.”"
    assert _quotes(nlp, text) == [
        ("these measures will hurt farmers more than anyone.", "Dana Whitfield", QuoteKind.PARTIAL)
    ]


def test_sentence_start_after_an_attributed_quote_is_full_and_inherits(nlp: Language) -> None:
    text = (
        "''The ferry timetable is a mess,'' Mr. Okafor told reporters at the pier. "
        "''If a boat is late, the town should say so.''"
    )
    got = _quotes(nlp, text)
    assert [(q[1], q[2]) for q in got] == [("Okafor", QuoteKind.FULL), ("Okafor", QuoteKind.FULL)]


def test_name_in_apposition_and_title_abbreviation(nlp: Language) -> None:
    text = (
        "“We expect a long night,” Lena Voss, a veteran party strategist, said on Tuesday.\n"
        "“The count will be slow in the hills,” Sen. Tomas Brandt (R-N.M.) said."
    )
    assert [q[1] for q in _quotes(nlp, text)] == ["Lena Voss", "Tomas Brandt"]


def test_described_source_is_not_the_person_it_mentions(nlp: Language) -> None:
    text = (
        "Ana Ruiz campaigned in the north.\n"
        "“She has never liked long briefings,” said a former Ruiz aide.\n"
        "“The minister used the system every official used,” Okafor’s office said in a statement."
    )
    speakers = [q[1] for q in _quotes(nlp, text)]
    assert speakers == ["a former Ruiz aide", "Okafor’s office"]


def test_bare_title_is_never_a_speaker(nlp: Language) -> None:
    text = "“We will appeal the ruling at once,” Director said."
    assert all(q[1] != "Director" for q in _quotes(nlp, text))


def test_transcript_line_names_its_speaker(nlp: Language) -> None:
    text = "Senator Ana Ruiz answered questions from voters on Monday.\nRuiz: “We will rebuild the bridge by winter.”"
    assert _quotes(nlp, text)[0][1] == "Ana Ruiz"


def test_statement_split_by_its_attribution_is_one_quote(nlp: Language) -> None:
    text = "“We came here to build trust,” Alexei Morozov said, “and we will leave with a deal.”"
    doc = nlp(text)
    [quote] = extract_quotes(doc, analyse_entities(doc))
    assert quote.text == "We came here to build trust and we will leave with a deal."
    assert quote.speaker == "Alexei Morozov"
    assert [text[p.start : p.end] for p in quote.parts] == [
        "We came here to build trust",
        "and we will leave with a deal.",
    ]


def test_partial_quote_carries_its_clause(nlp: Language) -> None:
    text = "Ruiz said the plan was “dead on arrival in the senate” and left. Later she spoke again."
    doc = nlp(text)
    [quote] = extract_quotes(doc, analyse_entities(doc))
    assert quote.kind is QuoteKind.PARTIAL
    assert quote.clause == "Ruiz said the plan was “dead on arrival in the senate” and left."


def test_she_skips_a_man_named_with_mr(nlp: Language) -> None:
    text = (
        "Ms. Ana Ruiz met Mr. Paul Grant in Lima on Friday.\n"
        "Mr. Grant spoke first. “We need a plan that works for every region,” she said."
    )
    assert [q[1] for q in _quotes(nlp, text)] == ["Ana Ruiz"]


def test_short_quote_right_after_its_verb_is_speech(nlp: Language) -> None:
    text = "Mr. Paul Grant was asked about the plan. He said, “No way.”"
    assert _quotes(nlp, text) == [("No way.", "Paul Grant", QuoteKind.FULL)]


def test_speaker_mention_is_the_phrase_as_written_where_the_attribution_stands(nlp: Language) -> None:
    text = (
        "Finance Minister Ama Owusu spoke in Accra on Monday.\n"
        "“The budget will balance next year,” she said.\n"
        "“We will not raise taxes,” Owusu told reporters.\n"
        "“Nothing was agreed,” the ministry said in a statement."
    )
    doc = nlp(text)
    quotes = extract_quotes(doc, analyse_entities(doc))
    mentions = [(q.speaker, q.speaker_mention.text if q.speaker_mention else None) for q in quotes]
    assert mentions[0] == ("Ama Owusu", "she")
    assert mentions[1] == ("Ama Owusu", "Owusu")
    assert mentions[2][1] == "the ministry"
    for quote in quotes:
        assert quote.speaker_mention is not None
        assert text[quote.speaker_mention.start : quote.speaker_mention.end] == quote.speaker_mention.text


def test_a_quote_without_a_speaker_has_no_mention(nlp: Language) -> None:
    doc = nlp("The report called the plan “a scandal” and moved on.")
    assert all(q.speaker_mention is None for q in extract_quotes(doc, analyse_entities(doc)))
