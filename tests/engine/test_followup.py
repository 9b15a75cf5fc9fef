"""The question of a grounded turn: a follow-up is asked with the message before it."""

from __future__ import annotations

from lockgate.engine.followup import is_follow_up, standalone_question


def test_a_follow_up_is_asked_with_the_previous_question() -> None:
    first = "How many days of paid annual leave do full-time employees get?"
    assert standalone_question([first, "And how many of those can I carry over?"]) == (
        f"{first} And how many of those can I carry over?"
    )
    assert standalone_question(["What is the hotel limit in Tier 1?", "What about meals?"]) == (
        "What is the hotel limit in Tier 1? What about meals?"
    )


def test_a_question_of_its_own_stands_alone() -> None:
    q = "Which HTTP status do requests above the API limit get?"
    assert standalone_question(["How long is the free trial?", q]) == q
    assert standalone_question([q]) == q
    assert standalone_question(["", "  "]) == ""
    assert not is_follow_up("Is it possible to export all workspace content as JSON or CSV?")
    assert is_follow_up("Does it include SSO?")


def test_the_same_question_for_another_name_is_the_previous_one_with_that_name() -> None:
    assert (
        standalone_question(["How much is the Starter plan per month?", "And for the Team plan?"])
        == "How much is the Team plan per month?"
    )
    assert (
        standalone_question(["What uptime does the Team plan guarantee?", "What about Enterprise?"])
        == "What uptime does the Enterprise plan guarantee?"
    )
    assert (
        standalone_question(["What is the hotel limit in Tier 1 cities?", "And in Tier 3 cities?"])
        == "What is the hotel limit in Tier 3 cities?"
    )
    # Nothing to put it in place of, or no name at all: asked with the previous question.
    assert standalone_question(["Which plans have SSO and SCIM?", "And for Enterprise?"]) == (
        "Which plans have SSO and SCIM? And for Enterprise?"
    )
    assert standalone_question(["What is the hotel limit in London?", "What about meals?"]) == (
        "What is the hotel limit in London? What about meals?"
    )


def test_what_people_say_before_a_follow_up_is_left_out() -> None:
    first = "How quickly do you fix critical security holes once you find them?"
    assert standalone_question([first, "ok and the high-severity ones?"]) == (
        f"{first} and the high-severity ones?"
    )
    assert standalone_question(
        ["What is the hotel cap in London?", "Thanks! What about Tokyo?"]
    ) == ("What is the hotel cap in Tokyo?")
    assert is_follow_up("right, and for contractors?")
    # A question of its own after "ok" still stands alone.
    assert not is_follow_up("Okay. How long is the free trial of the Business plan?")
