"""Prompt-injection detection helpers: rules, the TF-IDF classifier, its data and training."""
