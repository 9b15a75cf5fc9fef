"""Where the output guard may cut streamed text before scanning it: the first release ends
early (between plain lower-case words) so the caller sees tokens sooner, but never inside
something a scanner looks for; later releases are whole sentences."""

from __future__ import annotations

import pytest

from lockgate.engine.stages.output_guard import _early_cut, _last_boundary


@pytest.mark.parametrize(
    ("text", "released"),
    [
        ("Customers on annual plans can request a full", "Customers on annual plans can request"),
        ("Employees may carry over up to 5 unused ", "Employees may carry over up"),
        ("Contact John Smith at", ""),  # capitalised words: a name is never cut in two
        ("Call 555 123 4567 or", ""),  # digits: a phone number is never cut in two
        ("please write to john.doe@example.com", ""),
        ("short one", ""),
    ],
)
def test_first_release(text: str, released: str) -> None:
    assert text[: _early_cut(text)] == released


def test_sentences_end_at_terminal_punctuation_or_a_line_break() -> None:
    text = "and then the billing team sends the refund to"
    assert _last_boundary(text) == 0
    assert _last_boundary(text + " you. More") == len(text) + len(" you.")
    assert _last_boundary("It is 30 days.\nNext") == len("It is 30 days.\n")
