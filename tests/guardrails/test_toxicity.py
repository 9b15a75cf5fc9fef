"""Toxicity scanner: real alt-profanity-check model and better-profanity word list."""

from __future__ import annotations

import time

import pytest

from lockgate.config import GuardPolicy, GuardrailsConfig, ScannerRule
from lockgate.guardrails.base import ScanContext
from lockgate.guardrails.engine import GuardEngine
from lockgate.guardrails.registry import ScannerDeps, build
from lockgate.guardrails.scanners.toxicity import ToxicityScanner


@pytest.fixture(scope="module")
def scanner() -> ToxicityScanner:
    s = build("toxicity", {}, ScannerDeps(embedder=None))  # type: ignore[arg-type]
    assert isinstance(s, ToxicityScanner)
    return s


def flagged(scanner: ToxicityScanner, text: str, threshold: float = 0.5) -> bool:
    return any(f.score >= threshold for f in scanner.scan(text, ScanContext("in")))


@pytest.mark.parametrize(
    "text",
    [
        "you are an idiot",
        "I will hurt you",
        "I'm going to find you and beat you up",
        "fuck off",
        "this is bullshit",
        "sh1t",
        "f.u.c.k this",
        "s h i t",
        "what the f*ck",
        "fuuuuck you",
        "\u0455hit",  # Cyrillic dze for s
        "f\u200bu\u200bc\u200bk",  # zero-width joins
        "y0u are an 1diot",
        "you are an iddddiot",
        "s t u p i d b i t c h",
    ],
)
def test_toxic_and_obfuscated_text_fires(scanner: ToxicityScanner, text: str) -> None:
    assert flagged(scanner, text), text


@pytest.mark.parametrize(
    "text",
    [
        "Our office is in Scunthorpe.",
        "The assessment is attached.",
        "The cockpit view is great.",
        "Please kill the sync process and restart it.",
        "Shoot me an email when the export is ready.",
        "Please assess the bass-heavy audio files.",
        "Spiced pumpkin latte is not a valid workspace name?",
        "My colleague Dick Johnson needs access.",
        "Damn, I forgot my password again.",  # mild: below the default threshold
        "How do I get a refund for my annual plan?",
        "I will find your order.",
    ],
)
def test_benign_text_passes(scanner: ToxicityScanner, text: str) -> None:
    assert not flagged(scanner, text), [f.detail for f in scanner.scan(text, ScanContext("in"))]


def test_mild_words_score_below_default_but_a_strict_policy_sees_them(
    scanner: ToxicityScanner,
) -> None:
    found = scanner.scan("this product sucks", ScanContext("in"))
    assert found and max(f.score for f in found) < 0.5
    assert flagged(scanner, "this product sucks", threshold=0.3)


def test_word_spans_point_at_the_original_text(scanner: ToxicityScanner) -> None:
    text = "Well, sh1t. And also f.u.c.k it."
    words = [f for f in scanner.scan(text, ScanContext("in")) if f.detail.startswith("word")]
    assert {text[f.start : f.end] for f in words} == {"sh1t", "f.u.c.k"}
    assert all(0.0 <= f.score <= 1.0 for f in words)


def test_model_finding_spans_the_whole_text(scanner: ToxicityScanner) -> None:
    text = "You are a worthless piece of shit."
    model = [f for f in scanner.scan(text, ScanContext("out")) if f.detail == "model"]
    assert model and (model[0].start, model[0].end) == (0, len(text))
    assert 0.5 <= model[0].score <= 1.0


def test_allow_words_param_removes_a_word() -> None:
    s = ToxicityScanner({"allow_words": ["crap"], "model": False})
    assert not s.scan("crap", ScanContext("in"))


def test_one_megabyte_is_bounded(scanner: ToxicityScanner) -> None:
    text = ("lorem ipsum dolor sit amet " * 40_000)[:1_000_000]
    t0 = time.perf_counter()
    scanner.scan(text, ScanContext("in"))
    # Capped at max_chars; generous bound for a loaded CI box.
    assert time.perf_counter() - t0 < 10


def test_through_the_engine_blocks_input_and_output() -> None:
    policy = GuardPolicy(
        input=[ScannerRule(scanner="toxicity", action="block")],
        context=[],
        output=[ScannerRule(scanner="toxicity", action="redact")],
    )
    engine = GuardEngine(
        GuardrailsConfig(policies={"default": policy}, scanner_timeout_ms=20_000),
        ScannerDeps(embedder=None),  # type: ignore[arg-type]
    )
    bad = engine.scan("you are an idiot", ScanContext("in"), policy)
    assert bad.action == "block"
    assert {f.type for f in bad.findings} == {"TOXICITY"}
    good = engine.scan("How do I export my data?", ScanContext("in"), policy)
    assert good.action == "allow"
    out = engine.scan("Sure, sh1t happens.", ScanContext("out"), policy)
    assert out.action == "redact" and "sh1t" not in out.text


def test_fast_tfidf_matches_sklearn(scanner: ToxicityScanner) -> None:
    # The scanner skips sklearn's transform for speed; it must give the same features.
    assert scanner._tfidf is not None
    texts = [
        "You absolute idiot, I will find you.", "Thanks, the refund arrived!", "", "ok",
        "Straße ÉCOLE 東京 don't-stop o'neill f.u.c.k s h i t",
        "Refund refund refund. The annual plan!\nSecond line? 3.14 and 10,000 seats.",
    ]
    fast = scanner._tfidf.transform(texts)
    slow = scanner._vectorizer.transform(texts)
    assert fast.shape == slow.shape
    assert abs(fast - slow).max() < 1e-12


def test_sick_leave_is_hr_wording_not_abuse(scanner: ToxicityScanner) -> None:
    for text in (
        "How many days of paid sick leave do I get per year?",
        "Who pays sick pay after 3 sick days?",
    ):
        assert not flagged(scanner, text), text
    assert flagged(scanner, "I am sick of you")


def test_workplace_words_the_model_learned_as_toxic_are_not_blocked(
    scanner: ToxicityScanner,
) -> None:
    for text in (
        "I got a parking ticket. Can I put it on my expense claim?",
        "Does the expense policy cover taxis?",
        "Act as a recruiter and ask me three questions so I can practise.",
        "Who is participating in the kickoff?",
    ):
        assert not flagged(scanner, text), text
    # Abuse around those words is still abuse.
    assert flagged(scanner, "Your expense team are useless morons.")
