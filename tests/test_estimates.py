"""The one token estimator, the one upper bound and the one cost function."""

from __future__ import annotations

import math

import pytest

from lockgate import estimates
from lockgate.models import base


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 1), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 8, 2), ("x" * 9, 3), ("x" * 400, 100)],
)
def test_estimate_tokens_rounds_up_at_four_characters_and_is_never_zero(
    text: str, tokens: int
) -> None:
    assert estimates.estimate_tokens(text) == tokens


def test_models_base_re_exports_the_same_estimator() -> None:
    assert base.estimate_tokens is estimates.estimate_tokens


@pytest.mark.parametrize(
    ("text", "chars_per_token", "messages", "bound"),
    [
        ("", 3.0, 0, 8),  # no text, no messages: still one message's overhead
        ("abc", 3.0, 1, 1 + 8),
        ("abcd", 3.0, 1, 2 + 8),  # rounds up
        ("x" * 30, 3.0, 3, 10 + 24),
        ("x" * 10, 2.5, 2, 4 + 16),
    ],
)
def test_tokens_upper_bound(text: str, chars_per_token: float, messages: int, bound: int) -> None:
    assert estimates.tokens_upper_bound(text, chars_per_token, messages) == bound


def test_upper_bound_at_three_characters_is_above_the_typical_estimate() -> None:
    for n in (1, 7, 100, 4000):
        text = "y" * n
        assert estimates.tokens_upper_bound(text, 3.0, 1) > estimates.estimate_tokens(text)


def test_cost_is_priced_per_thousand_tokens() -> None:
    assert estimates.cost(1000, 0, 0.5, 2.0) == 0.5
    assert estimates.cost(0, 1000, 0.5, 2.0) == 2.0
    assert math.isclose(estimates.cost(1200, 300, 0.5, 1.5), (600 + 450) / 1000)
    assert estimates.cost(0, 0, 0.5, 1.5) == 0.0
    assert estimates.cost(123, 456, 0.0, 0.0) == 0.0


def test_cost_matches_the_formula_it_replaces_exactly() -> None:
    for tin, tout, pin, pout in [(17, 3, 0.15, 0.6), (4096, 512, 2.5, 10.0), (1, 1, 0.003, 0.004)]:
        assert estimates.cost(tin, tout, pin, pout) == (tin * pin + tout * pout) / 1000


def test_lower_bound_is_never_above_the_typical_count() -> None:
    from lockgate.estimates import tokens_for_chars, tokens_lower_bound

    for n in (0, 1, 7, 8, 100, 10_000):
        assert tokens_lower_bound("x" * n) <= tokens_for_chars(n)
    assert tokens_lower_bound("x" * 80) == 10 and tokens_for_chars(80) == 20
