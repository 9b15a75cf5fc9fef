"""The gold evaluation set (samples/eval/gold.jsonl) is well formed and grounded in the corpus."""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

import lockgate.ingest.builtin  # noqa: F401  (registers the built-in parsers)
from lockgate.ingest.parsers import parse_bytes
from lockgate.ingest.types import ParseError

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "samples" / "corpus"
GOLD = ROOT / "samples" / "eval" / "gold.jsonl"

REQUIRED_TAGS = {
    "factual": 25,
    "paraphrase": 10,
    "multi-hop": 8,
    "should-refuse": 8,
    "pii": 5,
    "injection": 5,
    "quarantined": 2,
}
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def _load() -> list[dict]:
    lines = GOLD.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


CASES = _load()


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


@cache
def source_text(relative: str) -> str:
    """Raw text for .md/.txt plus the project's parser output for every format, normalised."""
    path = CORPUS / relative
    data = path.read_bytes()
    parts = []
    if path.suffix in {".md", ".txt"}:
        parts.append(data.decode("utf-8"))
    try:
        doc = parse_bytes(data, path.name)
    except ParseError:
        pass
    else:
        parts.extend(b.text for b in doc.blocks)
    return _norm("\n".join(parts))


def _contains(case: dict) -> list[str]:
    return [a.split(":", 1)[1].strip() for a in case.get("assert", []) if a.startswith("contains:")]


def test_shape_and_unique_ids() -> None:
    assert len(CASES) >= 60
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids))
    for c in CASES:
        assert ID_RE.match(c["id"]), c["id"]
        assert isinstance(c["expected"], str) and c["expected"].strip(), c["id"]
        assert isinstance(c["expected_sources"], list), c["id"]
        assert isinstance(c["tags"], list) and c["tags"], c["id"]
        assert all(isinstance(a, str) for a in c.get("assert", [])), c["id"]
        inp = c["input"]
        if isinstance(inp, list):
            assert inp and all(m["role"] in {"user", "assistant", "system"} for m in inp)
            assert inp[-1]["role"] == "user", c["id"]
        else:
            assert isinstance(inp, str) and inp.strip(), c["id"]


def test_tag_counts() -> None:
    counts = Counter(t for c in CASES for t in c["tags"])
    for tag, minimum in REQUIRED_TAGS.items():
        assert counts[tag] >= minimum, (tag, counts[tag])
    assert 3 <= sum(isinstance(c["input"], list) for c in CASES) <= 4


def test_sources_exist() -> None:
    for c in CASES:
        for src in c["expected_sources"]:
            assert (CORPUS / src).is_file(), (c["id"], src)
            assert not src.startswith("broken/"), (c["id"], src)


def test_refusals_have_no_sources() -> None:
    for c in CASES:
        tags = set(c["tags"])
        if {"should-refuse", "injection", "quarantined"} & tags:
            assert c.get("should_refuse") is True, c["id"]
        if c.get("should_refuse"):
            assert c["expected_sources"] == [], c["id"]
            assert {"refused", "blocked"} & set(c.get("assert", [])), c["id"]


def test_paraphrases_reuse_answers() -> None:
    by_id = {c["id"]: c for c in CASES}
    for c in CASES:
        if "paraphrase" in c["tags"]:
            original = by_id[c["paraphrase_of"]]
            assert "factual" in original["tags"]
            assert c["expected"] == original["expected"], c["id"]
            assert c["expected_sources"] == original["expected_sources"], c["id"]


@pytest.mark.parametrize("case", [c for c in CASES if c["expected_sources"]], ids=lambda c: c["id"])
def test_grounded_in_sources(case: dict) -> None:
    """Every `contains:` phrase occurs in one of the named sources; factual cases need one."""
    keys = _contains(case)
    if "factual" in case["tags"]:
        assert keys, case["id"]
    texts = [source_text(s) for s in case["expected_sources"]]
    for key in keys:
        assert any(_norm(key) in t for t in texts), (case["id"], key)
    if "multi-hop" in case["tags"]:
        # Each named source contributes at least one phrase.
        assert len(case["expected_sources"]) >= 2
        for t in texts:
            assert any(_norm(k) in t for k in keys), case["id"]
