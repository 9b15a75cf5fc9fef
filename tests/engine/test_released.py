"""What a guarded stream keeps of the text it released, and where it may not cut yet."""

from __future__ import annotations

from lockgate.engine.released import TRAIL_CHARS, Released
from lockgate.guardrails.canary import squeeze
from lockgate.guardrails.continuation import TAIL_CHARS

CANARY = "lg-6fbb28cfff39"


def test_the_tail_is_bounded_and_what_leaves_it_is_squeezed() -> None:
    released = Released(CANARY)
    released.add("a" * (TAIL_CHARS - 5))
    assert released.trail == ""
    released.add("Hello, World! ")
    assert len(released.tail) == TAIL_CHARS and released.tail.endswith("Hello, World! ")
    assert released.trail == "a" * 9
    for _ in range(1000):
        released.add("x-y " * 20)
    assert len(released.trail) == TRAIL_CHARS and set(released.trail) == {"x", "y"}


def test_without_a_canary_nothing_is_squeezed() -> None:
    released = Released(None)
    released.add("z" * 1000)
    assert released.trail == "" and len(released.tail) == TAIL_CHARS


def test_a_link_that_has_not_ended_is_not_cut() -> None:
    released = Released(None)
    text = "The window is 30 days. ![chart. Data](https://attacker.example/c.png"
    assert released.safe_end(text, len("The window is 30 days. ![chart.")) == len(
        "The window is 30 days. "
    )
    assert released.safe_end("All plain. More", len("All plain.")) == len("All plain.")


def test_the_possible_start_of_the_canary_waits() -> None:
    released = Released(CANARY)
    text = "First half lg-6fbb2.\n"
    assert released.safe_end(text, len(text)) == len("First half ")
    released.add("l\ng\n")
    assert released.safe_end("-\n6\n", 4) == 2
    assert squeeze(released.tail) == "lg"
