"""Retrain the prompt-injection models: the TF-IDF classifier (model.npz), then the embedding
stage stacked on it (embedding_stage.npz), both in src/lockgate/guardrails/injection/.

    .venv/bin/python scripts/train_injection.py [--tfidf-only]

A thin wrapper so the build step has an obvious entry point; the logic (and its data rules:
train splits to fit, validation splits for C, the stacker and the thresholds, dev and test
splits never) lives in `lockgate.guardrails.injection.train` and `.train_stage`. The stage
reads the TF-IDF model, so it is retrained whenever that one is (~7 minutes on two cores,
most of it MiniLM embedding the training rows)."""

from __future__ import annotations

import sys

from lockgate.guardrails.injection import train, train_stage

if __name__ == "__main__":
    tfidf_only = "--tfidf-only" in sys.argv[1:]
    train.main([a for a in sys.argv[1:] if a != "--tfidf-only"])
    if not tfidf_only:
        train_stage.main([])
