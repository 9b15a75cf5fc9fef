"""The judgement of a rule, without a store or a clock: hysteresis, the cool-down, event
windows, and a flapping signal that fires once."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lockgate.alerts.rules import EventWindow, Previous, judge_metric
from lockgate.config import AlertingConfig, AlertRule

QUIET = Previous(firing=False, fired_at=None)


def rule(**kw: object) -> AlertRule:
    base: dict[str, object] = {"name": "errors", "kind": "error_rate", "threshold": 0.1,
                               "cooldown_seconds": 600, "clear_ratio": 0.5}
    return AlertRule(**{**base, **kw})  # type: ignore[arg-type]


def test_fires_at_the_threshold_and_clears_only_below_the_band() -> None:
    r = rule()
    assert judge_metric(r, 0.09, QUIET, 0) is None
    assert judge_metric(r, 0.10, QUIET, 0) == "fire"
    firing = Previous(firing=True, fired_at=0)
    # Inside the band (0.05 .. 0.1) a firing rule neither fires again nor clears.
    assert judge_metric(r, 0.2, firing, 10) is None
    assert judge_metric(r, 0.06, firing, 10) is None
    assert judge_metric(r, 0.04, firing, 10) == "resolve"


def test_a_cleared_rule_waits_out_its_cooldown_before_firing_again() -> None:
    r = rule()
    cleared = Previous(firing=False, fired_at=100)
    assert judge_metric(r, 0.5, cleared, 699) is None
    assert judge_metric(r, 0.5, cleared, 700) == "fire"


def test_a_flapping_signal_fires_once_per_cooldown() -> None:
    """A value swinging far across the band every step: fire, clear, then nothing until the
    cool-down from the first firing has passed."""
    r = rule(cooldown_seconds=300)
    previous, fired = QUIET, []
    for step in range(60):  # one value a minute for an hour
        now = step * 60.0
        value = 0.3 if step % 2 == 0 else 0.0
        action = judge_metric(r, value, previous, now)
        if action == "fire":
            fired.append(now)
            previous = Previous(firing=True, fired_at=now)
        elif action == "resolve":
            previous = Previous(firing=False, fired_at=previous.fired_at)
    # Without the cool-down this signal would have fired 30 times.
    gaps = [b - a for a, b in zip(fired, fired[1:], strict=False)]
    assert fired[0] == 0 and all(g >= 300 for g in gaps)
    assert len(fired) == 10


def test_event_window_counts_within_the_window_per_subject() -> None:
    w = EventWindow(rule(name="b", kind="breaker_open", threshold=3, window_seconds=60))
    assert [w.add("a", t) for t in (0, 10, 20)] == [1, 2, 3]
    assert w.add("b", 20) == 1  # another subject counts on its own
    assert w.add("a", 75) == 2  # 0 and 10 fell out of the window
    w.reset("a")
    assert w.add("a", 76) == 1


def test_config_errors_name_the_rule() -> None:
    with pytest.raises(ValidationError, match="needs a threshold"):
        AlertRule(name="p95", kind="p95_latency_ms")
    with pytest.raises(ValidationError, match="share"):
        AlertRule(name="e", kind="error_rate", threshold=5)
    with pytest.raises(ValidationError, match="unknown webhook nope"):
        AlertingConfig(rules=[{"name": "x", "kind": "drift", "webhooks": ["nope"]}])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="exactly one of url, url_env"):
        AlertingConfig(webhooks=[{"name": "w"}])  # type: ignore[list-item]
    assert AlertRule(name="d", kind="drift").limit() == 1.0


def test_a_webhook_url_is_masked_in_the_shown_config() -> None:
    from lockgate.config import Settings, masked

    hook = "https://hooks.slack.com/services/T000/B000/secret-token"
    shown = masked(Settings(alerts={"webhooks": [{"name": "ops", "url": hook}]}))  # type: ignore[arg-type]
    assert shown["alerts"]["webhooks"][0]["url"] == "https://hooks.slack.com/****"
