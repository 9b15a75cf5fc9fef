"""A stream's piece is scanned behind the tail of what was already released: what straddles
the two is found; what lies wholly in the tail is not reported twice; what straddles it can
no longer be redacted, so a redact or block rule blocks."""

from __future__ import annotations

from lockgate.config import GuardPolicy, GuardrailsConfig, ScannerRule
from lockgate.guardrails.base import Finding, ScanContext, ScannerOutcome
from lockgate.guardrails.continuation import continued
from lockgate.guardrails.engine import GuardEngine
from lockgate.guardrails.registry import ScannerDeps

OUT = ScanContext("out")


def engine(*rules: ScannerRule) -> tuple[GuardEngine, GuardPolicy]:
    policy = GuardPolicy(input=[], context=[], output=list(rules))
    config = GuardrailsConfig(policies={"default": policy}, scanner_timeout_ms=30_000)
    return GuardEngine(config, ScannerDeps(embedder=None)), policy  # type: ignore[arg-type]


def test_findings_are_moved_to_the_piece_and_the_tail_ones_dropped() -> None:
    outcome = ScannerOutcome(
        "pii", "redact",
        [Finding("EMAIL", 0, 5, 0.9), Finding("EMAIL", 8, 20, 0.9), Finding("EMAIL", 12, 15, 0.9)],
        1.0,
    )
    moved = continued(outcome, 10)
    assert moved.action == "block"  # the one from 8 to 20 began in released text
    assert [(f.start, f.end) for f in moved.findings] == [(0, 10), (2, 5)]
    assert "already released" in moved.findings[0].detail
    assert continued(ScannerOutcome("pii", "redact", [Finding("EMAIL", 0, 5, 0.9)], 1.0), 10
                     ).action == "allow"
    flagged = ScannerOutcome("t", "flag", [Finding("X", 5, 15, 0.9)], 1.0)
    assert continued(flagged, 10).action == "flag"


def test_an_address_split_over_pieces_ends_the_stream() -> None:
    guard, policy = engine(ScannerRule(scanner="pii", action="redact"))
    assert guard.scan("bob.secret\n@\n", OUT, policy).action == "allow"
    result = guard.scan("example.com", OUT, policy, released="Write to bob.secret\n@\n")
    assert result.action == "block"
    [finding] = result.findings
    assert finding.type == "EMAIL" and "already released" in finding.detail


def test_pii_wholly_in_the_new_piece_is_still_redacted() -> None:
    guard, policy = engine(ScannerRule(scanner="pii", action="redact"))
    result = guard.scan(" Or mail eve@corp.example.", OUT, policy, released="Thanks [EMAIL].")
    assert result.action == "redact" and result.text == " Or mail [EMAIL]."


def test_what_the_tail_holds_is_not_reported_again() -> None:
    guard, policy = engine(ScannerRule(scanner="pii", action="flag"))
    result = guard.scan(" All done.", OUT, policy, released="I wrote to eve@corp.example.")
    assert result.action == "allow" and result.findings == []


def test_a_canary_in_halves_over_pieces_is_a_leak() -> None:
    guard, policy = engine(ScannerRule(scanner="leak", action="block"))
    ctx = ScanContext("out", canary="lg-6fbb28cfff39")
    result = guard.scan(" Second half 8cfff39.", ctx, policy, released="First half lg-6fbb2.")
    assert result.action == "block"
