"""Thresholds in source sentences against the amounts a question states."""

from __future__ import annotations

import pytest

from lockgate.engine.conditions import applies, quantities


def test_amounts_in_words_digits_and_currencies() -> None:
    assert quantities("For a nine-hour flight") == [(9 / 24, "days")]
    assert quantities("a €700 monitor, then EUR 1,200.50 and $30") == [
        (700.0, "eur"),
        (1200.5, "eur"),
        (30.0, "usd"),
    ]
    assert quantities("two weeks ago, 120 km, 3 seats") == [
        (14.0, "days"),
        (120.0, "km"),
        (3.0, "seat"),
    ]
    assert quantities("How do I get a refund?") == []


@pytest.mark.parametrize(
    ("question", "sentence", "expected"),
    [
        (
            "For a nine-hour flight, which cabin?",
            "Fly economy on flights shorter than 6 hours.",
            False,
        ),
        (
            "For a nine-hour flight, which cabin?",
            "Premium economy on flights of 6 hours or longer.",
            True,
        ),
        ("A €700 monitor: do I need an okay?", "Any purchase above EUR 500 needs approval.", True),
        ("A €300 monitor: do I need an okay?", "Any purchase above EUR 500 needs approval.", False),
        ("I paid two weeks ago. Refund?", "Annual plans are refunded within 30 days.", True),
        ("I paid two months ago. Refund?", "Annual plans are refunded within 30 days.", False),
        # Different dimensions are not compared: days against euros.
        ("I paid two weeks ago. Refund?", "Receipts are needed above EUR 25.", False),
        ("Which cabin class may I book?", "Fly economy on flights shorter than 6 hours.", False),
    ],
)
def test_a_threshold_applies_when_the_questions_amount_meets_it(
    question: str, sentence: str, expected: bool
) -> None:
    assert applies(question, sentence) is expected


def test_a_rule_for_other_cases_contradicts() -> None:
    from lockgate.engine.conditions import contradicts

    q = "For a nine-hour flight, which cabin?"
    assert contradicts(q, "Fly economy on flights shorter than 6 hours.")
    assert not contradicts(q, "Premium economy on flights of 6 hours or longer.")
    # Nothing to compare is no contradiction.
    assert not contradicts(q, "Book all flights through the Travel Desk.")
    assert not contradicts("Which cabin?", "Fly economy on flights shorter than 6 hours.")


def test_a_rate_is_no_amount() -> None:
    # "in a week" states no amount of days: "at least two days a week" does not apply.
    q = "What's the max number of days I can work from home in a week?"
    assert quantities(q) == []
    assert not applies(q, "Who works from home at least two days a week gets EUR 600.")


def test_a_table_rows_threshold_column_against_a_percentage() -> None:
    from lockgate.engine.conditions import contradicts

    header = "| service_credits | monthly_uptime_below_percent | credit_percent_of_monthly_fee |"
    q = "Our uptime last month was only 98%. What credit do we get?"
    assert quantities(q) == [(98.0, "percent")]
    assert applies(q, "| 1 | 99.0 | 25 |", header)
    assert contradicts(q, "| 2 | 95.0 | 50 |", header)
    # A cell that is no figure, or a column that is no threshold, sets none.
    assert not applies(q, "| 0 | plan SLA | 10 |", header)
    assert not contradicts(q, "| 0 | plan SLA | 10 |", header)
    assert not applies("What does 98% of the Team plan cost?", "| Team | 99 |", "| plan | usd |")
