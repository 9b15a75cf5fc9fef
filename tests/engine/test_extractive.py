"""The extractive answer: the best source sentences with the markers of their chunks, and
nothing when no sentence bears on the question."""

from __future__ import annotations

import re

from lockgate.engine.extractive import extractive_reply
from tests.engine.test_sentences import MANUAL, OTHER, chunk


def test_quotes_the_best_sentence_with_its_chunk_marker() -> None:
    built = extractive_reply("How long is the warranty on manufacturing defects?",
                             [chunk(1, OTHER), chunk(2, MANUAL)])
    assert built is not None
    assert "24 months" in built.text
    assert built.cited == [2]
    assert re.search(r"24 months from the date of purchase\. \[2\]", built.text)
    # Every sentence is one of the sources', word for word.
    for s in built.sentences:
        assert s.text in MANUAL or s.text in OTHER


def test_at_most_max_sentences_each_cited() -> None:
    built = extractive_reply("support line weekdays toner recycled",
                             [chunk(1, OTHER), chunk(2, MANUAL)], max_sentences=2)
    assert built is not None
    assert 1 <= len(built.sentences) <= 2
    assert built.text.count("[") == len(built.sentences)
    assert all(n == 1 for n in built.cited)


def test_nothing_to_quote_for_an_unrelated_question() -> None:
    assert extractive_reply("Who won the football world cup in 1998?",
                            [chunk(1, OTHER), chunk(2, MANUAL)]) is None
    assert extractive_reply("anything", []) is None
