"""Train the claim-support model on generated pairs and write ``support.npz``.

    .venv/bin/python -m lockgate.guardrails.grounding.train [--out PATH]

Data: `grounding.pairs` makes claims from Python's own documentation (language reference and
standard-library docstrings); nothing of the grounding bench, its chunks or samples/corpus is
read. Each claim goes through the grounding scanner exactly as at run time (same sentence
windows, same MiniLM similarities, same fact caps); the claims a cap decides are left out of
the fit, since the model never sees them.

Deterministic: fixed seed, sorted sources, lbfgs (no random state). The same Python (its
documentation is the corpus) and the same MiniLM weights give the same file; the corpus digest
is recorded in the file and `tests/guardrails/test_grounding_model.py` rebuilds and compares
when it matches. Documents are split by name: one in five (validation) chooses C and the
threshold; the rest fits the weights."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from lockgate.guardrails.grounding import pairs
from lockgate.guardrails.grounding.support import FEATURES, WEIGHTS, SupportModel
from lockgate.models.base import EmbeddingBackend

C_GRID = (0.1, 1.0, 10.0)
SEED = 0
PER_CHUNK = 6
# Generated paraphrases stay closer to their source than people's do, so the cut that
# balances the generated validation pairs flags too many real restatements. The cut is moved
# by this many logits towards passing: the middle of the range that decides every claim of the
# grounding bench's *dev* split right (bench/guardrails/bench_grounding.py --split dev; the
# model-decided dev claims sat between +1.23 and +2.31 logits of the balanced cut). The test
# split was not used to choose it. Nothing of the bench is read here.
DEV_LOGIT_OFFSET = 1.77


def measure(
    examples: list[pairs.Example], embedder: EmbeddingBackend
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features of the claims the model decides, their labels, and for every example whether
    a cap already flagged it)."""
    from lockgate.guardrails.scanners.grounding import GroundingScanner

    probe = SupportModel(
        np.zeros(len(FEATURES)), np.ones(len(FEATURES)), np.zeros(len(FEATURES)), 0.0, 0.5
    )
    scanner = GroundingScanner({"decision": "model"}, embedder, model=probe)
    xs: list[np.ndarray] = []
    ys: list[int] = []
    capped = np.zeros(len(examples), dtype=bool)
    for i, e in enumerate(examples):
        results = scanner.check(e.claim, list(e.chunks))
        if len(results) != 1:
            capped[i] = True  # not one claim: neither fitted nor scored
            continue
        r = results[0]
        if r.measurements is None:
            capped[i] = r.support < scanner.min_support
            continue
        xs.append(r.measurements.vector())
        ys.append(e.label)
    return np.asarray(xs), np.asarray(ys), capped


def balanced_threshold(
    p: np.ndarray,
    y: np.ndarray,
    extra_flagged_neg: int,
    extra_flagged_pos: int,
    fixed: float | None = None,
) -> tuple[float, float, float]:
    """The probability cut that maximises the lower of recall (unsupported flagged) and pass
    rate (supported passed), counting the claims the caps flagged; (cut, recall, pass). With
    `fixed`, the rates at that cut."""
    neg_total = int((y == 0).sum()) + extra_flagged_neg
    pos_total = int((y == 1).sum()) + extra_flagged_pos
    best = (0.5, -1.0, -1.0)
    for t in [fixed] if fixed is not None else np.unique(np.round(p, 4)):
        flagged = p < t
        recall = (int((flagged & (y == 0)).sum()) + extra_flagged_neg) / max(neg_total, 1)
        passed = int((~flagged & (y == 1)).sum()) / max(pos_total, 1)
        if min(recall, passed) > min(best[1], best[2]):
            best = (float(t), recall, passed)
    return best


def train(
    embedder: EmbeddingBackend | None = None, verbose: bool = True, limit: int | None = None
) -> SupportModel:
    """The model (every generated example, or the first `limit` of each split)."""
    from sklearn import __version__ as sk_version
    from sklearn.linear_model import LogisticRegression

    from lockgate.models.minilm import MiniLMEmbedder

    t0 = time.perf_counter()
    embedder = embedder or MiniLMEmbedder()
    tr, va = pairs.generate(seed=SEED, per_chunk=PER_CHUNK)
    digest = pairs.examples_digest(tr + va)
    if limit is not None:
        tr, va = tr[:limit], va[:limit]
    x_tr, y_tr, _ = measure(tr, embedder)
    x_va, y_va, capped_va = measure(va, embedder)
    va_labels = np.asarray([e.label for e in va])
    capped_neg = int((capped_va & (va_labels == 0)).sum())
    capped_pos = int((capped_va & (va_labels == 1)).sum())
    mean = x_tr.mean(axis=0)
    scale = x_tr.std(axis=0)
    scale[scale == 0] = 1.0
    z_tr = (x_tr - mean) / scale
    z_va = (x_va - mean) / scale

    best: tuple[float, float, float, float, LogisticRegression] | None = None
    for c in C_GRID:
        model = LogisticRegression(C=c, solver="lbfgs", max_iter=2000, class_weight="balanced")
        model.fit(z_tr, y_tr)
        p = model.predict_proba(z_va)[:, 1]
        t, rec, pas = balanced_threshold(p, y_va, capped_neg, capped_pos)
        if verbose:
            print(f"C={c:<5} validation recall={rec:.4f} pass={pas:.4f} threshold={t:.4f}")
        if best is None or min(rec, pas) > min(best[1], best[2]):
            best = (t, rec, pas, c, model)
    assert best is not None
    t, rec, pas, c, model = best
    balanced_cut = t
    t = 1.0 / (1.0 + math.exp(-(math.log(t / (1.0 - t)) + DEV_LOGIT_OFFSET)))
    p = model.predict_proba(z_va)[:, 1]
    _, rec_at, pas_at = balanced_threshold(p, y_va, capped_neg, capped_pos, fixed=t)
    meta: dict[str, object] = {
        "data": "generated from pydoc_data.topics and stdlib docstrings (grounding.pairs)",
        "corpus_digest": pairs.corpus_digest(),
        "pairs_digest": digest,
        "seed": SEED,
        "per_chunk": PER_CHUNK,
        "n_train_examples": len(tr),
        "n_validation_examples": len(va),
        "n_train_fitted": int(len(y_tr)),
        "n_validation_scored": int(len(y_va)),
        "C": c,
        "balanced_threshold": round(balanced_cut, 6),
        "dev_logit_offset": DEV_LOGIT_OFFSET,
        "validation_recall_balanced": round(rec, 4),
        "validation_pass_balanced": round(pas, 4),
        "validation_recall": round(rec_at, 4),
        "validation_pass": round(pas_at, 4),
        "sklearn": sk_version,
    }
    out = SupportModel(
        mean=mean,
        scale=scale,
        coef=model.coef_[0].astype(np.float64),
        intercept=float(model.intercept_[0]),
        threshold=t,
        meta=meta,
    )
    if verbose:
        print(
            f"chosen C={c}, threshold={t:.4f}, {len(y_tr)} fitted / {len(tr)} train, "
            f"{time.perf_counter() - t0:.0f}s"
        )
        for name, w in zip(FEATURES, out.coef, strict=True):
            print(f"  {name:22} {w:+.3f}")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    args = ap.parse_args(argv)
    model = train()
    model.save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
