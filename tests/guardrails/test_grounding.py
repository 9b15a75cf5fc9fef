"""Grounding check with the real MiniLM embedder and chunks from samples/corpus."""

from __future__ import annotations

import pytest

from lockgate.config import GuardPolicy, GuardrailsConfig, ScannerRule
from lockgate.guardrails.base import ScanContext
from lockgate.guardrails.engine import GuardEngine
from lockgate.guardrails.grounding import content_words, entities, numbers, split_sentences
from lockgate.guardrails.registry import ScannerDeps, build
from lockgate.guardrails.scanners.grounding import GroundingScanner
from lockgate.models.minilm import MiniLMEmbedder

REFUNDS = (
    "Annual subscriptions can be refunded in full within 30 days of the original purchase "
    "date. After 30 days, annual plans are non-refundable, but the customer keeps access until "
    "the end of the term. Approved refunds are processed within 10 business days and returned "
    "to the original payment method. Refunds above USD 5,000 must also be approved by the Head "
    "of Finance."
)
REGIONS = (
    "You choose a region when you create a workspace. We offer the EU region (Frankfurt) and "
    "the US region (Virginia) on all plans. Enterprise customers can also choose the "
    "Asia-Pacific region (Sydney)."
)
LEAVE = (
    "Full-time employees receive 25 days of paid annual leave per calendar year. You may carry "
    "over up to 5 unused leave days into the next year. Carried-over days must be used before "
    "31 March, or they expire."
)
CHUNKS = [REFUNDS, REGIONS, LEAVE]


@pytest.fixture(scope="module")
def scanner(embedder: MiniLMEmbedder) -> GroundingScanner:
    s = build("grounding", {}, ScannerDeps(embedder))
    assert isinstance(s, GroundingScanner)
    return s


def scan(scanner: GroundingScanner, text: str, chunks: list[str] | None = None):
    ctx = ScanContext("out", chunks=CHUNKS if chunks is None else chunks)
    return scanner.scan(text, ctx), ctx


@pytest.mark.parametrize(
    "text",
    [
        "Annual subscriptions can be refunded in full within 30 days of the original purchase "
        "date.",
        "If you bought an annual plan, you can get all of your money back within 30 days.",
        "Enterprise customers can also pick the Asia-Pacific region in Sydney.",
        "Full-time staff get 25 days of paid annual leave each year [3].",
        "Unused leave days, up to 5, can be carried over and must be used before 31 March.",
    ],
)
def test_supported_claims_pass(scanner: GroundingScanner, text: str) -> None:
    found, ctx = scan(scanner, text)
    assert found == [], [f.detail for f in found]
    assert ctx.metrics["groundedness"] == 1.0


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Annual subscriptions can be refunded in full within 45 days.", "45"),
        ("We offer the EU region in Paris on all plans.", "paris"),
        ("Refunds above USD 5,000 must be approved by the Chief Executive Officer.", "chief"),
        ("Full-time employees receive 30 days of paid annual leave.", "30"),
        ("Carried-over days must be used before 30 June.", "jun"),
        ("Approved refunds are processed within 10 business days [7].", "[7]"),
    ],
)
def test_unsupported_claims_are_flagged_with_a_reason(
    scanner: GroundingScanner, text: str, why: str
) -> None:
    found, ctx = scan(scanner, text)
    assert len(found) == 1, text
    f = found[0]
    assert f.type == "UNGROUNDED" and f.replacement == ""
    assert why in f.detail.lower()
    assert 0.5 <= f.score <= 1.0
    assert ctx.metrics["groundedness"] == 0.0


def test_invented_fact_without_figures_is_flagged(scanner: GroundingScanner) -> None:
    found, _ = scan(scanner, "Employees can swap unused leave days for shares in the company.")
    assert found


def test_citation_must_point_at_the_supporting_chunk(scanner: GroundingScanner) -> None:
    right = "Approved refunds are processed within 10 business days [1]."
    wrong = "Approved refunds are processed within 10 business days [2]."
    assert scan(scanner, right)[0] == []
    found, _ = scan(scanner, wrong)
    assert found and "cited" in found[0].detail


def test_no_chunks_means_nothing_is_supported(scanner: GroundingScanner) -> None:
    text = "Refunds take 10 business days. The EU region is hosted in Frankfurt."
    found, ctx = scan(scanner, text, chunks=[])
    assert len(found) == 2 and all(f.detail == "no retrieved context" for f in found)
    assert ctx.metrics["groundedness"] == 0.0


def test_greetings_questions_and_refusals_are_not_claims(scanner: GroundingScanner) -> None:
    text = "Sure! Would you like more details? The sources do not mention the price of add-ons."
    found, ctx = scan(scanner, text)
    assert found == []
    assert ctx.metrics["grounding_claims"] == 0.0


def test_mixed_answer_reports_groundedness_and_spans(scanner: GroundingScanner) -> None:
    text = (
        "Annual plans can be refunded in full within 30 days [1]. Refunds are paid within 2 "
        "days [1]. We offer the EU region (Frankfurt) and the US region (Virginia) [2]."
    )
    found, ctx = scan(scanner, text)
    assert len(found) == 1
    assert text[found[0].start : found[0].end].startswith("Refunds are paid within 2 days [1].")
    assert ctx.metrics["groundedness"] == pytest.approx(2 / 3)


def test_input_direction_is_not_checked(scanner: GroundingScanner) -> None:
    assert scanner.scan("Refunds within 99 days.", ScanContext("in", chunks=CHUNKS)) == []


def test_redact_rule_drops_the_unsupported_sentence(embedder: MiniLMEmbedder) -> None:
    rule = ScannerRule(scanner="grounding", action="redact")
    policy = GuardPolicy(input=[], context=[], output=[rule])
    engine = GuardEngine(
        GuardrailsConfig(policies={"default": policy}, scanner_timeout_ms=30_000),
        ScannerDeps(embedder),
    )
    text = (
        "Annual plans can be refunded in full within 30 days [1]. Refunds are paid in 2 "
        "days [1]. Enterprise customers can also choose Sydney [2]."
    )
    ctx = ScanContext("out", chunks=CHUNKS)
    result = engine.scan(text, ctx, policy)
    assert result.action == "redact"
    assert result.text == (
        "Annual plans can be refunded in full within 30 days [1]. "
        "Enterprise customers can also choose Sydney [2]."
    )
    assert ctx.metrics["groundedness"] == pytest.approx(2 / 3)


def test_helpers() -> None:
    sents = split_sentences("It costs $1,200.00 per year, e.g. for teams [2]. Next one!")
    assert [s.citations for s in sents] == [[2], []]
    assert sents[0].text == "It costs $1,200.00 per year, e.g. for teams."
    assert numbers("thirty days, 15 %, $1,200.00, 3.50") == {"30", "15", "1200", "3.5"}
    assert entities("We use PayPal and AWS in Frankfurt.") == {"paypal", "aws", "frankfurt"}
    # "-ies"/"-ied" forms meet their "-y" stem (a flipped "carries over" must find "carry").
    assert content_words("carries carried carry") == {"carry"}
    assert content_words("policies policy applies") == {"policy", "apply"}


def test_large_answer_is_bounded(scanner: GroundingScanner) -> None:
    text = ("Annual plans can be refunded within 30 days. " * 30_000)[:1_000_000]
    found, ctx = scan(scanner, text)
    assert ctx.metrics["grounding_claims"] <= scanner.max_claims


# -- claims that keep the source's words but change the fact (grounding.contrast) ---------

PRICING = (
    "plan: Starter; monthly_price_usd: 29; included_seats: 3; extra_seat_usd: 8; sso: no\n"
    "plan: Business; monthly_price_usd: 399; included_seats: 25; extra_seat_usd: 15; sso: yes"
)
SLA = (
    "Northwind Cloud SLA, version 2025.1, effective 2025-01-01. "
    "plans.business.uptime_sla_percent: 99.95. plans.enterprise.uptime_sla_percent: 99.99. "
    "plans.business.support_response_times.P1_critical: 1 hour."
)
WORKSPACE = (
    "Choose a workspace name. The name cannot be changed later. Tokens expire after 90 days "
    "by default; owners can choose a shorter lifetime, but not a longer one. Business and "
    "Enterprise customers get a free 45-minute onboarding call with a solutions engineer."
)
ALLOWANCE = (
    "Each team gets a travel allowance at the start of every quarter. Unused allowance does not "
    "carry over. Team leads approve trips above the allowance."
)


@pytest.mark.parametrize(
    ("text", "chunks", "why"),
    [
        ("The workspace name can be changed later from the settings page.", [WORKSPACE],
         "opposite"),
        ("Extra seats on the Business plan cost 25 USD each.", [PRICING], "25 is given"),
        ("The Business plan has an uptime SLA of 99.99 percent.", [SLA], "99.99 is given"),
        ("Starter customers get a free 45-minute onboarding call with a solutions engineer.",
         [WORKSPACE], "'Starter' where the source names enterprise"),
        ("Unused travel allowance carries over to the next quarter.", [ALLOWANCE], "opposite"),
    ],
)
def test_conflicting_claims_are_flagged(scanner: GroundingScanner, text: str,
                                        chunks: list[str], why: str) -> None:
    found, _ = scan(scanner, text, chunks)
    assert found and why in found[0].detail, [f.detail for f in found]


@pytest.mark.parametrize(
    ("text", "chunks"),
    [
        ("Extra seats on the Business plan cost 15 USD each.", [PRICING]),
        ("The Business plan costs 399 USD per month and includes 25 seats.", [PRICING]),
        ("The Starter plan has no SSO.", [PRICING]),
        ("The Enterprise plan has an uptime SLA of 99.99 percent.", [SLA]),
        ("Once chosen, a workspace name can't be changed.", [WORKSPACE]),
        ("Tokens expire after 90 days by default.", [WORKSPACE]),
        ("Owners can pick a shorter token lifetime but not a longer one.", [WORKSPACE]),
        ("Enterprise customers get a free 45-minute onboarding call.", [WORKSPACE]),
        ("Unused travel allowance is not carried over.", [ALLOWANCE]),
    ],
)
def test_faithful_claims_do_not_conflict(scanner: GroundingScanner, text: str,
                                         chunks: list[str]) -> None:
    found, _ = scan(scanner, text, chunks)
    assert found == [], [f.detail for f in found]


def test_contrast_checks_can_be_turned_off(embedder: MiniLMEmbedder) -> None:
    s = build("grounding", {"contrast": False}, ScannerDeps(embedder))
    assert isinstance(s, GroundingScanner)
    [r] = s.check("Extra seats on the Business plan cost 25 USD each.", [PRICING])
    assert r.conflicts == []
