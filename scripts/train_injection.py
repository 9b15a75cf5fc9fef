"""Retrain the prompt-injection classifier and rewrite src/lockgate/guardrails/injection/model.npz.

    .venv/bin/python scripts/train_injection.py [--out PATH]

A thin wrapper so the build step has an obvious entry point; the logic (and its data rules:
train splits to fit, validation splits for C and the threshold, test splits never) lives in
`lockgate.guardrails.injection.train`."""

from __future__ import annotations

from lockgate.guardrails.injection.train import main

if __name__ == "__main__":
    main()
