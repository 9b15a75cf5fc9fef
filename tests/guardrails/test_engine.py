"""How the guard engine runs a policy's scanners: the pooled ones side by side, the inline
ones on the calling thread, outcomes in rule order whatever finishes first, and the same
budget for both (an inline overrun is a failure, as on the pool)."""

from __future__ import annotations

import threading
import time
from typing import Any

from lockgate.config import GuardPolicy, GuardrailsConfig, ScannerRule
from lockgate.guardrails.base import Finding, ScanContext
from lockgate.guardrails.engine import GuardEngine
from lockgate.guardrails.registry import ScannerDeps, register

# Both pooled scanners wait here for each other: run one after the other, the first would
# wait out the timeout alone and report an error.
_BARRIER = threading.Barrier(2, timeout=10)
_THREADS: dict[str, int] = {}


class _Meet:
    def __init__(self, name: str) -> None:
        self.name = name

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        _THREADS[self.name] = threading.get_ident()
        _BARRIER.wait()
        return [Finding(self.name.upper(), 0, 1, 0.9)] if "x" in text else []


class _Inline:
    inline = True

    def __init__(self, name: str, sleep_s: float = 0.0) -> None:
        self.name = name
        self.sleep_s = sleep_s

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        _THREADS[self.name] = threading.get_ident()
        time.sleep(self.sleep_s)
        return [Finding(self.name.upper(), 0, 1, 0.9)] if "x" in text else []


register("t_meet_a")(lambda p, d: _Meet("t_meet_a"))
register("t_meet_b")(lambda p, d: _Meet("t_meet_b"))
register("t_inline")(lambda p, d: _Inline("t_inline"))
register("t_inline_slow")(lambda p, d: _Inline("t_inline_slow", sleep_s=0.2))


def _engine(rules: list[ScannerRule], **config: Any) -> tuple[GuardEngine, GuardPolicy]:
    policy = GuardPolicy(input=rules, context=[], output=[])
    engine = GuardEngine(
        GuardrailsConfig(policies={"default": policy}, **config),
        ScannerDeps(embedder=None),  # type: ignore[arg-type]
    )
    return engine, policy


def test_pooled_scanners_run_side_by_side_and_inline_ones_on_the_caller() -> None:
    rules = [
        ScannerRule(scanner="t_meet_a", action="flag"),
        ScannerRule(scanner="t_inline", action="block"),
        ScannerRule(scanner="t_meet_b", action="flag"),
    ]
    engine, policy = _engine(rules, scanner_timeout_ms=5000)
    result = engine.scan("x marks the spot", ScanContext("in"), policy)
    outcomes = [(o.scanner, o.action, o.error) for o in result.outcomes]
    assert outcomes == [
        ("t_meet_a", "flag", None),
        ("t_inline", "block", None),
        ("t_meet_b", "flag", None),
    ]
    assert result.action == "block"
    assert _THREADS["t_inline"] == threading.get_ident()
    assert _THREADS["t_meet_a"] != threading.get_ident() != _THREADS["t_meet_b"]
    assert _THREADS["t_meet_a"] != _THREADS["t_meet_b"]


def test_an_inline_scanner_over_its_budget_fails_like_a_pooled_one() -> None:
    rules = [ScannerRule(scanner="t_inline_slow", action="redact")]
    engine, policy = _engine(rules, scanner_timeout_ms=50)
    result = engine.scan("x", ScanContext("in"), policy)
    [outcome] = result.outcomes
    assert outcome.error == "timed out after 50 ms"
    assert outcome.findings == []
    assert outcome.action == "block" and result.action == "block"  # a redact rule fails closed
