"""The extractive answer: the best source sentences with the markers of their chunks, and
nothing when no sentence bears on the question."""

from __future__ import annotations

import re

from lockgate.engine.extractive import extractive_reply, topic_words, unknown_years
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


def test_a_question_about_a_year_no_source_mentions_has_no_extract() -> None:
    chunks = [chunk(1, MANUAL + " The 2024 model has a larger tray.")]
    assert unknown_years("What did the printer cost in 2023 and 2024?", chunks) == ["2023"]
    assert unknown_years("How many sheets does the tray hold?", chunks) == []
    assert extractive_reply("How long was the warranty in 2023?", chunks) is None
    assert extractive_reply("How long is the warranty?", chunks) is not None


def test_a_sentence_sharing_only_a_name_does_not_answer() -> None:
    chunks = [chunk(1, "Northwind Cloud was founded in 2016 in Rotterdam. "
                       "Northwind Cloud builds file collaboration software.")]
    assert topic_words("Who is the chief executive officer of Northwind Cloud?") == {
        "chief", "executive", "officer"}
    assert extractive_reply("Who is the chief executive officer of Northwind Cloud?",
                            chunks) is None
    built = extractive_reply("In which year was Northwind Cloud founded?", chunks)
    assert built is not None and "2016" in built.text


def test_a_count_question_needs_a_sentence_with_a_figure() -> None:
    chunks = [chunk(1, "About a third of the employees work remotely. "
                       "Employees get a laptop on their first day.")]
    assert extractive_reply("How many employees work remotely?", chunks) is None


SLA = (
    "plans.starter.uptime_sla_percent: 99.5\n"
    "plans.team.uptime_sla_percent: 99.9\n"
    "plans.team.support_response_times.P2_high: 1 business day\n"
    "plans.enterprise.uptime_sla_percent: 99.99"
)
HANDBOOK = "Outside core hours you can plan your own day together with your team."


def test_structured_keys_count_word_by_word() -> None:
    extract = extractive_reply("What is the uptime SLA of the Team plan?", [chunk(1, SLA)])
    assert extract is not None
    assert extract.text.startswith("plans.team.uptime_sla_percent: 99.9 [1]")


def test_only_the_questions_common_words_do_not_answer_it() -> None:
    # "team" and "plan" are in the handbook's sentence too, but the question's rarer words
    # ("uptime", "sla") only in the SLA's rows: the handbook sentence is not quoted, even
    # when it shares half the question's words.
    both = extractive_reply("What is the uptime SLA of the Team plan?",
                            [chunk(1, HANDBOOK), chunk(2, SLA)])
    assert both is not None and "Outside core hours" not in both.text and both.cited == [2]
