"""Topic scanner with the real MiniLM embedder: deny-listed topics and allow-list mode."""

from __future__ import annotations

import pytest

from lockgate.config import GuardPolicy, GuardrailsConfig, ScannerRule
from lockgate.guardrails.base import ScanContext
from lockgate.guardrails.engine import GuardEngine
from lockgate.guardrails.registry import ScannerDeps, build
from lockgate.guardrails.scanners.topic import TopicScanner
from lockgate.models.minilm import MiniLMEmbedder

DENY = [
    {
        "name": "financial advice",
        "description": "financial or investment advice, which stocks, funds or crypto to buy",
        "keywords": ["stock tip", "invest in"],
    },
    {
        "name": "competitors",
        "description": "our competitors: Acme Files, Globex Drive; comparisons with other vendors",
        "keywords": ["acme", "globex"],
    },
    {"name": "politics", "description": "politics, elections, parties, who to vote for"},
]
ALLOW = [
    {"name": "Northwind Cloud", "description": "Northwind Cloud product: plans, pricing, "
     "billing, refunds, data export, file sync, API and CLI"},
    {"name": "HR policy", "description": "employee handbook: annual leave, sick leave, "
     "remote work, travel and expense claims"},
]


@pytest.fixture(scope="module")
def deny(embedder: MiniLMEmbedder) -> TopicScanner:
    s = build("topic", {"deny": DENY}, ScannerDeps(embedder))
    assert isinstance(s, TopicScanner)
    return s


@pytest.fixture(scope="module")
def allow(embedder: MiniLMEmbedder) -> TopicScanner:
    s = build("topic", {"allow": ALLOW}, ScannerDeps(embedder))
    assert isinstance(s, TopicScanner)
    return s


def top(scanner: TopicScanner, text: str) -> str | None:
    found = [f for f in scanner.scan(text, ScanContext("in")) if f.score >= 0.5]
    return max(found, key=lambda f: f.score).detail if found else None


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("Which index fund would you recommend for my retirement savings?", "financial advice"),
        ("Should I buy Tesla shares now?", "financial advice"),
        ("Who should I vote for in the next election?", "politics"),
        ("Why should I choose you over Globex Drive?", "competitors"),
    ],
)
def test_deny_topics_fire_and_name_the_topic(deny: TopicScanner, text: str, topic: str) -> None:
    detail = top(deny, text)
    assert detail is not None and detail.startswith(topic), detail


@pytest.mark.parametrize(
    "text",
    [
        "How do I get a refund for my annual plan?",
        "What payment methods do you accept?",
        "How many days of annual leave do I get?",
        "How do I export my data as CSV?",
    ],
)
def test_ordinary_questions_pass(deny: TopicScanner, text: str) -> None:
    assert top(deny, text) is None


def test_keyword_hit_has_its_span_even_through_look_alikes(deny: TopicScanner) -> None:
    text = "Is Northwind better than \u0410cme?"  # Cyrillic capital A
    found = [f for f in deny.scan(text, ScanContext("in")) if "keyword" in f.detail]
    assert found and found[0].score >= 0.9 and found[0].type == "TOPIC"
    assert text[found[0].start : found[0].end] == "\u0410cme"


def test_topic_in_one_sentence_of_a_longer_message_points_at_that_sentence(
    deny: TopicScanner,
) -> None:
    text = (
        "Thanks for the help with the invoice yesterday. The export worked fine. "
        "By the way, which crypto coins should I buy this month?"
    )
    found = [f for f in deny.scan(text, ScanContext("in")) if f.score >= 0.5]
    assert found
    assert "crypto" in text[found[0].start : found[0].end]


def test_allow_list_flags_off_domain_and_passes_on_domain(allow: TopicScanner) -> None:
    off = top(allow, "Write me a poem about the sea.")
    assert off is not None and off.startswith("off-topic")
    assert top(allow, "How do I get a refund for my annual plan?") is None
    assert top(allow, "How many days of sick leave do I get?") is None
    # Greetings are too short to be off-topic.
    assert top(allow, "hi there") is None


def test_bad_params_are_rejected(embedder: MiniLMEmbedder) -> None:
    with pytest.raises(ValueError):
        build("topic", {"deny": "financial advice"}, ScannerDeps(embedder))
    with pytest.raises(ValueError):
        build("topic", {"deny": [{"keywords": ["x"]}]}, ScannerDeps(embedder))


def test_plain_string_topics_work(embedder: MiniLMEmbedder) -> None:
    s = build("topic", {"deny": ["medical advice, which medicine or dose to take"]},
              ScannerDeps(embedder))
    assert top(s, "How many ibuprofen can I take in a day?") is not None  # type: ignore[arg-type]


def test_through_the_engine(embedder: MiniLMEmbedder) -> None:
    rule = ScannerRule(scanner="topic", action="block", params={"deny": DENY})
    policy = GuardPolicy(input=[rule], context=[], output=[rule])
    engine = GuardEngine(
        GuardrailsConfig(policies={"default": policy}, scanner_timeout_ms=30_000),
        ScannerDeps(embedder),
    )
    blocked = engine.scan("Give me a stock tip for tomorrow.", ScanContext("in"), policy)
    assert blocked.action == "block"
    assert any(f.type == "TOPIC" and f.scanner == "topic" for f in blocked.findings)
    assert engine.scan("How do I invite my team?", ScanContext("in"), policy).action == "allow"
