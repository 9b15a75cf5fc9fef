"""Grounded traffic for the drift tests: questions from templates (about the sample corpus, or
about cooking), written as real trace rows through the TraceStore. A question's best
retrieval score is its real MiniLM similarity to sentences of the sample corpus, so questions
the corpus cannot answer score low, are refused for want of sources, and carry no citations,
as the retrieve stage would have them."""

from __future__ import annotations

import random
import uuid

import numpy as np

from lockgate.models.base import EmbeddingModel
from lockgate.store.feedback import FeedbackRecord, FeedbackStore, new_feedback_id
from lockgate.store.traces import TraceStore

CORPUS_SUBJECTS = (
    "the refund window",
    "refunds for annual plans",
    "a refund after 30 days",
    "annual leave",
    "vacation days",
    "travel expenses",
    "hotel costs on business trips",
    "the security policy",
    "password rules",
    "two-factor authentication",
    "the price of the Business plan",
    "pricing tiers",
    "service level uptime",
    "support response times",
    "onboarding a new workspace",
    "choosing a data region",
    "expense reimbursement",
    "meal allowances when travelling",
    "reporting a security incident",
    "the free trial",
)
COOKING_SUBJECTS = (
    "baking sourdough bread",
    "a mushroom risotto",
    "roasting a whole chicken",
    "sharpening kitchen knives",
    "making fresh pasta",
    "a vegan chocolate cake",
    "seasoning a cast iron pan",
    "poaching eggs",
    "a Thai green curry",
    "fermenting kimchi",
    "grilling salmon",
    "making pizza dough",
)
# Two sets of phrasings, so the "same distribution" window asks the same things in other words.
FORMS_A = (
    "What is {s}?",
    "Can you explain {s}?",
    "How does {s} work?",
    "Tell me about {s}.",
    "What are the rules for {s}?",
    "Where can I read about {s}?",
)
FORMS_B = (
    "What does the policy say about {s}?",
    "I have a question about {s}.",
    "Could you summarise {s} for me?",
    "Is there a limit on {s}?",
    "Who decides on {s}?",
    "Give me the details of {s}, please.",
)
# What the sample corpus says, in a sentence per document section.
CORPUS_SENTENCES = (
    "Annual plans can be refunded in full within 30 days of purchase; monthly plans get no refund.",
    "Employees receive 25 days of annual leave per year.",
    "Travel expenses, hotels and meals on business trips are reimbursed with receipts.",
    "Passwords must be at least 12 characters and two-factor authentication is required.",
    "Report a security incident to the security team within one hour.",
    "The Business plan costs 25 dollars per user per month; pricing tiers are Starter, Business "
    "and Enterprise.",
    "The service level is 99.9 percent uptime; support responds within four hours.",
    "Every new workspace gets a 14-day free trial of the Business plan.",
    "Create your workspace and choose a data region when onboarding.",
)
MIN_RELEVANCE = 0.3


def questions(subjects: tuple[str, ...], forms: tuple[str, ...], n: int, seed: int) -> list[str]:
    combos = [f.format(s=s) for s in subjects for f in forms]
    return random.Random(seed).sample(combos, n)


def write_window(
    traces: TraceStore,
    embedder: EmbeddingModel,
    tenant: str,
    asked: list[str],
    start: float,
    end: float,
    seed: int,
    app: str | None = None,
) -> None:
    """One trace per question, spread evenly over [start, end)."""
    rng = random.Random(seed)
    q = np.asarray(embedder.embed(asked))
    docs = np.asarray(embedder.embed(list(CORPUS_SENTENCES)))
    best = (q @ docs.T).max(axis=1)
    step = (end - start) / len(asked)
    for i, (text, score) in enumerate(zip(asked, best, strict=True)):
        refused = bool(score < MIN_RELEVANCE)
        stages = [{"stage": "retrieve.embed", "ms": 1.0, "note": ""}]
        if refused:
            stages.append({"stage": "retrieve.refuse", "ms": 0.0, "note": f"best {score:.3f}"})
        traces.record(
            {
                "id": uuid.uuid4().hex,
                "created_at": start + i * step,
                "principal": f"{tenant}-app",
                "tenant": tenant,
                "endpoint": "/v1/chat/completions",
                "model": "lockgate",
                "stream": 0,
                "status": "ok",
                "degraded": 0,
                "app": app,
                "request": {"model": "lockgate", "messages": [{"role": "user", "content": text}]},
                "retrieved": [
                    {"chunk_id": f"c{j}", "vector_score": round(float(score) - 0.05 * j, 4)}
                    for j in range(3)
                ],
                "stages": stages,
                "refused": int(refused),
                "grounded": int(not refused and rng.random() < 0.9),
                "output": "an answer",
            }
        )


def write_feedback(
    store: FeedbackStore, tenant: str, ratings: list[int], start: float, end: float
) -> None:
    step = (end - start) / len(ratings)
    for i, rating in enumerate(ratings):
        store.add(
            FeedbackRecord(
                id=new_feedback_id(),
                tenant=tenant,
                principal=f"{tenant}-user",
                trace_id="t" * 32,
                rating=rating,
                created_at=start + i * step,
            )
        )
