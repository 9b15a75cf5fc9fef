"""Generated training pairs: deterministic, made by the rewrites they claim, and disjoint from
everything the grounding bench and tests check the model on."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from lockgate.guardrails.grounding import pairs, split_sentences

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "bench" / "guardrails" / "data"


@pytest.fixture(scope="module")
def generated() -> tuple[list[pairs.Example], list[pairs.Example]]:
    return pairs.generate(seed=0, per_chunk=6)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _bench_sentences() -> set[str]:
    texts = [
        json.loads(line)["answer"] for line in (DATA / "grounding.jsonl").read_text().splitlines()
    ]
    texts += list(json.loads((DATA / "grounding_chunks.json").read_text()).values())
    texts += [
        p.read_text()
        for p in sorted((ROOT / "samples" / "corpus").rglob("*"))
        if p.is_file() and p.suffix in {".md", ".txt"}
    ]
    return {
        _norm(s.text)
        for t in texts
        for s in split_sentences(t, limit=10_000)
        if len(s.text.split()) >= 5
    }


def test_no_training_sentence_is_a_bench_or_sample_sentence(generated):
    bench = _bench_sentences()
    assert len(bench) > 150
    train, validation = generated
    seen = {_norm(e.claim) for e in train + validation}
    for e in train + validation:
        seen |= {_norm(s.text) for c in e.chunks for s in split_sentences(c)}
    assert not bench & seen


def test_generation_is_deterministic_and_split_by_document(generated):
    train, validation = generated
    again = pairs.generate(seed=0, per_chunk=6)
    assert pairs.examples_digest(train + validation) == pairs.examples_digest(again[0] + again[1])
    assert len(train) > 3000 and len(validation) > 800
    assert not {e.doc for e in train} & {e.doc for e in validation}
    labels = [e.label for e in train]
    assert 0.35 < sum(labels) / len(labels) < 0.65


def test_supported_claims_come_from_their_chunk_and_unsupported_are_not_in_it(generated):
    train, _ = generated
    for e in train:
        source = [c for c in e.chunks if e.doc]  # every example retrieves three chunks
        assert len(source) == 3
        if e.kind == "copy":
            assert any(e.claim in c for c in e.chunks)
        if e.label == 0:
            assert not any(e.claim == x.text for c in e.chunks for x in split_sentences(c))


def test_rewrites():
    rng = random.Random(0)
    assert pairs.negate("The name can be changed later.") == "The name can not be changed later."
    assert pairs.negate("The name cannot be changed later.") == "The name can be changed later."
    assert pairs.reorder("The loop ends if the iterator is exhausted.") == (
        "If the iterator is exhausted, the loop ends."
    )
    assert pairs.subclaim("The loop body runs once per item, which is rarely surprising.") == (
        "The loop body runs once per item."
    )
    assert pairs.addressed("Instance attributes can be defined in a method.") == (
        "You can define instance attributes in a method."
    )
    assert pairs.renumber("It waits 5 seconds.", rng) != "It waits 5 seconds."
    swapped = pairs.synonyms("The function returns the value.", rng)
    assert swapped is not None and swapped != "The function returns the value."
    assert pairs.graft(
        "The loop variable is reassigned on each pass.", "A module is imported only once."
    ) == ("The loop variable is imported only once.")
