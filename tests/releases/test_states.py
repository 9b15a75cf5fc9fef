"""The stage machine: which moves are allowed, and the error each refused one gives."""

from __future__ import annotations

import pytest

from lockgate.releases import states
from lockgate.releases.model import Release, ReleaseError, parse_params, parse_prompts


def _r(name: str, stage: str = "draft", **kw: object) -> Release:
    return Release(name, stage=stage, **kw)  # type: ignore[arg-type]


def test_the_forward_path_and_what_a_promotion_to_full_retires() -> None:
    draft = _r("r2")
    pilot = states.promote(draft, "pilot", None, None, pilot=["alice", " key:k1 ", "alice"])
    assert (pilot.to_stage, pilot.pilot) == ("pilot", ("alice", "key:k1"))
    share = states.promote(_r("r2", "pilot", pilot=("alice",)), "percentage", None, None, 10)
    assert share.to_stage == "percentage" and share.percent == 10 and share.pilot == ("alice",)
    full = states.promote(_r("r2", "percentage"), "full", _r("r1", "full"), _r("r2", "percentage"))
    assert full.to_stage == "full" and full.retire == "r1"


@pytest.mark.parametrize(
    ("release", "target", "kwargs", "message"),
    [
        (_r("r2", "rolled_back"), "full", {}, "rolled back and cannot serve again"),
        (_r("r2", "retired"), "pilot", {"pilot": ["a"]}, "retired and cannot serve again"),
        (_r("r2", "full"), "full", {}, "already full"),
        (_r("r2"), "pilot", {}, "at least one principal"),
        (_r("r2"), "percentage", {"percent": 100}, "above 0 and below 100"),
        (_r("r2"), "percentage", {"percent": 0}, "above 0 and below 100"),
        (_r("r2"), "percentage", {"percent": 1.234}, "at most 2 decimals"),
        (_r("r2"), "canary", {}, "unknown stage"),
    ],
)
def test_refused_promotions_say_why(
    release: Release, target: str, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ReleaseError, match=message):
        states.promote(release, target, None, None, **kwargs)  # type: ignore[arg-type]


def test_one_release_rolls_out_at_a_time() -> None:
    busy = _r("r2", "percentage", percent=10.0)
    with pytest.raises(ReleaseError, match="'r2' is in rollout"):
        states.promote(_r("r3"), "pilot", None, busy, pilot=["a"])
    with pytest.raises(ReleaseError, match="'r2' is in rollout"):
        states.promote(_r("r3"), "full", None, busy)
    # The rollout release itself may move on.
    assert states.promote(busy, "percentage", None, busy, percent=50).percent == 50


def test_rollback_from_any_live_stage_and_restoring_the_previous_current() -> None:
    for stage in ("draft", "pilot", "percentage"):
        move = states.rollback(_r("r2", stage), "bad answers")
        assert move.to_stage == "rolled_back" and move.restore is None
    move = states.rollback(_r("r2", "full", previous="r1"), "regression")
    assert move.restore == "r1"
    with pytest.raises(ReleaseError, match="rolled back"):
        states.rollback(_r("r2", "rolled_back"), "again")
    with pytest.raises(ReleaseError, match="needs a reason"):
        states.rollback(_r("r2", "pilot"), "  ")


def test_parameters_and_prompt_pins_are_checked() -> None:
    assert parse_params({"temperature": "0.2", "max_tokens": "64"}) == {
        "temperature": 0.2, "max_tokens": 64,
    }
    for bad, message in (
        ({"temperature": "3"}, "between 0 and 2"),
        ({"top_p": "0"}, "above 0"),
        ({"max_tokens": "x"}, "not a int"),
        ({"seed": "1"}, "unknown parameter"),
    ):
        with pytest.raises(ReleaseError, match=message):
            parse_params(bad)
    assert parse_prompts({"grounded_answer": "3"}) == {"grounded_answer": 3}
    with pytest.raises(ReleaseError, match="pin a version number"):
        parse_prompts({"grounded_answer": "prod"})
