"""Sentences that share the question's words and its kind of answer but do not answer it."""

from __future__ import annotations

from lockgate.engine.misses import (
    about_document,
    misses,
    opposite_word,
    other_unit,
    restates_premise,
)


def test_a_figure_in_another_unit() -> None:
    q = "Is there a max number of overtime hours I can put in per month?"
    assert other_unit(q, "Extra hours can be taken back as time off within three months.")
    assert not other_unit(q, "You may work at most 10 overtime hours a month.")
    # Counting things, answered with a duration only.
    tokens = "Is there a cap on how many API tokens one workspace can have?"
    assert other_unit(tokens, "Tokens expire after 90 days.")
    assert not other_unit(tokens, "A workspace can have up to 20 tokens, each valid for 90 days.")
    # Nothing counted in a unit: nothing to compare.
    assert not other_unit("How long is the trial?", "The trial lasts 14 days.")
    assert other_unit("How many seats does the Team plan include?", "It lasts 3 months.")
    assert not other_unit("How many seats does the Team plan include?", "| Team | 10 | 50 |")


def test_the_opposite_of_what_is_asked() -> None:
    q = "Can I take unpaid leave after my parental leave?"
    assert opposite_word(q, "Birth parents receive 16 weeks of fully paid parental leave.")
    assert not opposite_word(q, "Unpaid leave of up to 3 months can be agreed with HR.")
    assert not opposite_word(
        "Do nonprofits get a discount?", "Registered nonprofit organisations get 30% off."
    )
    # Words that only look negated.
    assert not opposite_word(
        "Which port is used unless told otherwise?", "Port 22 is used, less often 2222."
    )


def test_the_premise_given_back() -> None:
    q = "What happens to my salary if I'm sick for longer than the 10 paid sick days?"
    assert restates_premise(q, "Employees receive 10 days of paid sick leave per year.")
    assert not restates_premise(q, "After the 10 days, sick pay is 70% of salary.")
    assert not restates_premise("How many sick days do I get?", "Employees receive 10 days.")
    trial = "What happens after the 14-day trial?"
    assert restates_premise(trial, "Every new workspace gets a 14-day free trial.")
    assert not restates_premise(trial, "After the 14-day trial the workspace is read-only.")


def test_a_documents_own_scope() -> None:
    q = "Does Northwind cover my health insurance while I'm working from abroad?"
    scope = "This policy covers business travel and travel-related expenses for all employees."
    assert about_document(q, scope)
    assert not about_document("Who does the travel policy apply to?", scope)
    assert not about_document(q, "Health insurance abroad is covered by the company.")
    assert misses(q, scope) and not misses(q, "Health insurance abroad is covered.")
