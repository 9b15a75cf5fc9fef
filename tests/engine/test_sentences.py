"""Sentence-level context selection: the sentences that bear on the question, their chunk's
number kept, a neighbour for context, the prompt capped."""

from __future__ import annotations

import numpy as np

from lockgate.engine.sentences import (
    chunk_sentences,
    question_words,
    rank_sentences,
    select_sentences,
)
from lockgate.retrieval.hybrid import RetrievedChunk


def chunk(i: int, text: str) -> RetrievedChunk:
    return RetrievedChunk(
        rank=i,
        score=1.0 / i,
        chunk_id=100 + i,
        document_id=i,
        version=1,
        source=f"doc{i}.md",
        page=None,
        heading_path=[],
        text=text,
    )


MANUAL = (
    "The printer has a paper tray on the front. The tray holds up to 250 sheets of A4 paper. "
    "Load paper with the print side down. The display shows the number of sheets left. "
    "Clean the print head every three months with the cleaning kit. "
    "The warranty covers manufacturing defects for 24 months from the date of purchase. "
    "Keep the receipt as proof of purchase."
)
OTHER = (
    "Toner cartridges are recycled free of charge. Send them back in the original box. "
    "Our support line is open on weekdays from 9:00 to 17:00."
)


def test_the_sentence_that_answers_is_ranked_first() -> None:
    sents = chunk_sentences(1, MANUAL) + chunk_sentences(2, OTHER)
    ranked = rank_sentences("How long does the warranty cover defects?", sents)
    assert "24 months" in ranked[0].text and ranked[0].number == 1
    assert ranked[0].lexical > ranked[-1].lexical


def test_selection_keeps_the_answer_its_chunk_number_and_a_neighbour_under_the_cap() -> None:
    chunks = [chunk(1, OTHER), chunk(2, MANUAL)]
    out = select_sentences(
        "How many sheets does the paper tray hold?", chunks, best=1, neighbours=1, max_chars=400
    )
    # Only the manual bears on the question; it keeps its place and identity.
    assert [c.chunk_id for c in out] == [102]
    text = out[0].text
    assert "250 sheets" in text
    # Its neighbours came along for context; the unrelated warranty sentence did not.
    assert "front" in text and "print side down" in text
    assert "warranty" not in text
    assert len(text) <= 400
    assert len(text) < len(MANUAL)


def test_the_cap_bounds_the_prompt_and_the_best_sentence_always_goes_in() -> None:
    chunks = [chunk(1, MANUAL), chunk(2, OTHER)]
    out = select_sentences("warranty receipt purchase", chunks, best=6, neighbours=2, max_chars=120)
    total = sum(len(c.text) for c in out)
    assert total <= 120 + 1
    assert any("warranty" in c.text.lower() for c in out)


def test_table_rows_keep_their_header() -> None:
    table = (
        "| plan | price_usd | seats |\n| Starter | 29 | 3 |\n| Team | 99 | 10 |\n"
        "| Business | 399 | 25 |"
    )
    out = select_sentences(
        "What is the price of the Team plan?",
        [chunk(1, table)],
        best=1,
        neighbours=0,
        max_chars=300,
    )
    assert out[0].text.splitlines()[0] == "| plan | price_usd | seats |"
    assert "| Team | 99 | 10 |" in out[0].text
    assert "Business" not in out[0].text


def test_headings_are_not_sentences() -> None:
    sents = chunk_sentences(1, "# Warranty\n\nThe warranty lasts 24 months from purchase.")
    assert [s.text for s in sents] == ["The warranty lasts 24 months from purchase."]


def test_embeddings_break_a_lexical_tie() -> None:
    sents = chunk_sentences(1, "Cats sleep a lot during the day. Dogs sleep a lot at night.")
    vecs = {
        "Cats sleep a lot during the day.": np.array([1.0, 0.0]),
        "Dogs sleep a lot at night.": np.array([0.0, 1.0]),
    }

    def embed(texts):  # type: ignore[no-untyped-def]
        return np.stack([vecs[t] for t in texts])

    ranked = rank_sentences("When do they sleep a lot?", sents, np.array([0.0, 1.0]), embed)
    assert ranked[0].text.startswith("Dogs")
    ranked = rank_sentences("When do they sleep a lot?", sents, np.array([1.0, 0.0]), embed)
    assert ranked[0].text.startswith("Cats")


def test_redaction_placeholders_are_not_question_words() -> None:
    from lockgate.engine.sentences import question_words, without_placeholders

    q = "My card <CREDIT_CARD_1> was charged. How long is the free trial?"
    assert question_words(q) == question_words("My card was charged. How long is the free trial?")
    assert "credit" not in question_words(q)
    assert "<" not in without_placeholders("IBAN <IBAN_1> and <EMAIL_2>")


def test_question_words_meet_their_other_forms() -> None:
    # The stem makes "offices" "offic" but leaves "office"; "prices" and "price" alike.
    assert question_words("offices") == question_words("office")
    assert question_words("prices") == question_words("price")
    assert question_words("stored") == question_words("store")
    assert question_words("guarantees") == question_words("guarantee")
    assert question_words("classes") == question_words("class")
    # A table's "max_seats" is what "the largest number of seats" asks for.
    assert {"max", "seat"} <= question_words("What's the largest number of seats?")
    assert question_words("max_seats") == {"max", "seat"}
    # "Besides Rotterdam" sets Rotterdam aside; "besides" is no word to share.
    assert question_words("Besides Rotterdam, which city?") == {"rotterdam", "city"}
