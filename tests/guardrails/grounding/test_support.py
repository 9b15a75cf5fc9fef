"""The shipped claim-support model: what it is, and that it scores real claims sanely."""

from __future__ import annotations

import numpy as np

from lockgate.guardrails.grounding.support import (
    FEATURES,
    WEIGHTS,
    Measurements,
    SupportModel,
    word_matches,
)
from lockgate.guardrails.scanners.grounding import GroundingScanner
from lockgate.models.minilm import MiniLMEmbedder

SOURCE = (
    "Workspace owners can export all project data as a ZIP archive from the admin console. "
    "Exports include comments and attachments. An export link stays valid for seven days."
)


def test_shipped_file_is_small_and_records_how_it_was_built():
    assert WEIGHTS.stat().st_size < 16 * 1024
    m = SupportModel.load()
    assert m.coef.shape == (len(FEATURES),)
    assert np.isfinite(m.coef).all() and np.isfinite(m.intercept)
    assert 0.0 < m.threshold < 1.0
    for key in ("corpus_digest", "pairs_digest", "validation_recall", "validation_pass"):
        assert key in m.meta
    assert float(str(m.meta["validation_recall"])) > 0.8
    assert float(str(m.meta["validation_pass"])) > 0.8


def test_support_is_one_half_at_the_trained_threshold(tmp_path):
    n = len(FEATURES)
    # All-zero weights: the logit is the intercept whatever the claim.
    m = SupportModel(np.zeros(n), np.ones(n), np.zeros(n), 0.4, 0.6)
    meas = Measurements(0.5, 0.5, 1, 0.0, 5, 0.5, 0.8, 0.8, False, False, 0.7, 0.5, 0.2, 0.6)
    assert m.support(meas) < 0.5  # sigmoid(0.4) = 0.599 < 0.6
    m.threshold = float(1 / (1 + np.exp(-0.4)))
    assert abs(m.support(meas) - 0.5) < 1e-9
    m.save(tmp_path / "m.npz")
    again = SupportModel.load(tmp_path / "m.npz")
    assert again.threshold == m.threshold and again.intercept == m.intercept


def test_word_matches_join_word_pieces_and_skip_stop_words():
    claim = np.eye(4, dtype=np.float32)
    evidence = np.eye(4, dtype=np.float32)[:2]
    got = word_matches(claim, ["ref", "##und", "the", "cash"], evidence)
    assert got == [("refund", 1.0), ("cash", 0.0)]


def test_model_passes_restatements_and_flags_invented_facts(embedder: MiniLMEmbedder):
    scanner = GroundingScanner({"decision": "model"}, embedder)
    assert scanner.model is not None
    chunks = [SOURCE]
    supported = [
        "Owners of a workspace can download every project's data as a ZIP file from the "
        "admin console.",
        "Comments and attachments are part of an export.",
    ]
    invented = [
        "Exports are encrypted with a password that support sends by email.",
        "Workspace owners can schedule exports to run automatically every night.",
    ]
    for claim in supported:
        [r] = scanner.check(claim, chunks)
        assert r.support >= scanner.min_support, (claim, r)
    for claim in invented:
        [r] = scanner.check(claim, chunks)
        assert r.support < scanner.min_support, (claim, r)
        assert r.measurements is not None  # the model decided, not a fact cap


def test_formula_decides_when_asked(embedder: MiniLMEmbedder):
    formula = GroundingScanner({}, embedder)
    assert formula.model is None  # the default
    [r] = formula.check("Comments and attachments are part of an export.", [SOURCE])
    assert r.measurements is None and r.support >= formula.min_support
