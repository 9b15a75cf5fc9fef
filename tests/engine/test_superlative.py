"""The row a superlative question asks for, found by comparing the rows' prices."""

from __future__ import annotations

from lockgate.engine.extractive import candidates, extractive_reply
from lockgate.engine.superlative import asks_superlative, best_row
from tests.engine.test_sentences import chunk

PRICES = (
    "| plan | monthly_price_usd | annual_price_usd_per_month | extra_seat_usd | sso |\n"
    "| Starter | 29 | 24 | 8 | no |\n"
    "| Team | 99 | 84 | 10 | no |\n"
    "| Business | 399 | 339 | 15 | yes |\n"
    "| Enterprise | custom | custom | negotiated | yes |"
)
UPTIME = (
    "| plans | uptime_sla_percent |\n"
    "| starter | 99.5 |\n| team | 99.9 |\n| business | 99.95 |\n| enterprise | 99.99 |"
)


def _row(question: str, *texts: str) -> str | None:
    sentences, _ = candidates([chunk(i, t) for i, t in enumerate(texts, start=1)], None)
    found = best_row(question, question, sentences)
    return found.text.split("|")[1].strip() if found else None


def test_the_cheapest_and_the_dearest_row() -> None:
    assert _row("What's the cheapest plan if I pay month to month?", PRICES) == "Starter"
    assert _row("Which plan is the most expensive?", PRICES) == "Business"  # "custom" is none
    assert _row("What is the cheapest plan?", UPTIME) is None  # nothing priced to compare
    assert _row("Which plan has the highest uptime?", PRICES) is None  # not a price question
    assert not asks_superlative("How much is the Team plan?")


SEATS = (
    "| plan | monthly_price_usd | max_seats |\n"
    "| Starter | 29 | 10 |\n| Team | 99 | 50 |\n| Business | 399 | 250 |\n"
    "| Enterprise | custom | unlimited |"
)


def test_the_smallest_row_a_headcount_fits_in() -> None:
    assert _row("We're about 40 people. What's the smallest plan that fits us?", SEATS) == "Team"
    assert _row("We are 8 people: the smallest plan for us?", SEATS) == "Starter"
    # "Smallest" alone says nothing to compare by.
    assert _row("What's the smallest plan?", SEATS) is None


def test_a_condition_named_by_the_column_or_its_initials() -> None:
    assert _row("What's the cheapest plan that comes with SSO?", PRICES) == "Business"
    assert _row("We need single sign-on. What's the cheapest plan with it?", PRICES) == ("Business")


def test_the_extract_quotes_the_row_and_follows_it_to_another_table() -> None:
    q = (
        "We need single sign-on. What's the cheapest plan that has it, and what uptime "
        "does that plan promise?"
    )
    built = extractive_reply(q, [chunk(1, PRICES), chunk(2, UPTIME)])
    assert built is not None
    assert "Business, monthly_price_usd: 399" in built.text and "sso: yes" in built.text
    assert "99.95" in built.text and "99.9 " not in built.text and "Starter" not in built.text
    built = extractive_reply("What is the cheapest plan with SSO?", [chunk(1, PRICES)])
    assert built is not None and "Business" in built.text and "Team" not in built.text
